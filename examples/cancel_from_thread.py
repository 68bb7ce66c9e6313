"""Cancel a stream from another thread, as a UI's stop button or a supervisor would."""
import threading
import time

import ssekit
from _common import target

STOP_AFTER = 0.3  # seconds after the first text


def main() -> None:
    """A worker thread prints the stream; the main thread cancels it a moment after the text starts."""
    with target(__doc__, pace=0.02) as where:
        body = {
            "model": where.model,
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me a long story."}],
        }
        # Passing cancel=threading.Event() and setting it works the same way as stream.cancel().
        stream = ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 60))
        started = threading.Event()

        def read() -> None:
            try:
                with stream:
                    for text in stream:  # a read blocked on the socket is interrupted by cancel()
                        print(text, end="", flush=True)
                        started.set()
            finally:
                started.set()

        reader = threading.Thread(target=read)
        reader.start()
        started.wait(30)  # a UI would wait for the user's click instead
        time.sleep(STOP_AFTER)
        stream.cancel()
        reader.join()
        print()
        completion = stream.completion
        if stream.cancelled:
            print("cancelled by another thread after %d characters" % len(completion.text))
        else:
            print("the answer was complete before the stop: %d characters" % len(completion.text))


if __name__ == "__main__":
    main()
