"""Cancel a stream from another thread, e.g. a UI's stop button or a supervisor, with a threading.Event."""
import threading

import ssekit
from _common import target

STOP_AFTER = 0.3  # seconds


def main() -> None:
    """Let a timer thread set the cancel event while the main thread reads the stream."""
    with target(__doc__, pace=0.02) as where:
        body = {
            "model": where.model,
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me a long story."}],
        }
        stop = threading.Event()
        timer = threading.Timer(STOP_AFTER, stop.set)  # stream.cancel() from any thread works too
        timer.start()
        try:
            with ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 60), cancel=stop) as stream:
                for text in stream:  # a read blocked on the socket is interrupted as well
                    print(text, end="", flush=True)
        finally:
            timer.cancel()
        print()
        completion = stream.completion
        if stream.cancelled:
            print("cancelled by another thread after %d characters" % len(completion.text))
        else:
            print("the answer was complete before the stop: %d characters" % len(completion.text))


if __name__ == "__main__":
    main()
