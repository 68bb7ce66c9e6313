"""How big the seeded fuzzers, property tests and load tests run: their sizes times ``$SSEKIT_TEST_SCALE``.

The default is 1 (the full sizes). CI runs the full sizes on its newest
interpreter and a third of them on the others, which check the same
properties on fewer random inputs, streams and events, and run that share of
the examples a second time against a remote gateway: the CPU of nine suites on
a 2-core runner is what bounds CI's time.
"""
import os


def scaled(count: int) -> int:
    """*count* times ``$SSEKIT_TEST_SCALE`` (a positive number; anything else counts as 1), at least 1."""
    try:
        scale = float(os.environ.get("SSEKIT_TEST_SCALE", "1"))
    except ValueError:
        scale = 1.0
    if not scale > 0:
        scale = 1.0
    return max(1, int(count * scale))
