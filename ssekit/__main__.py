"""``python -m ssekit``: the same command line as the installed ``ssekit`` script."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
