"""Stop after N tokens: leaving the loop closes the connection at once (nothing more is downloaded)."""
import ssekit
from _common import target

MAX_PIECES = 10


def main() -> None:
    """Print the first MAX_PIECES text deltas, then stop."""
    with target(__doc__) as where:
        body = {
            "model": where.model,
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me a long story."}],
        }
        with ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 60)) as stream:
            for number, text in enumerate(stream, 1):
                print(text, end="", flush=True)
                if number == MAX_PIECES:
                    break  # leaving the with block closes the stream
        print()
        print("stopped after %d pieces; cancelled: %s; complete: %s"
              % (MAX_PIECES, stream.cancelled, stream.completion.complete))


if __name__ == "__main__":
    main()
