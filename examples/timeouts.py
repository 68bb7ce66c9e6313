"""Timeouts: a read timeout for a server that goes silent, a deadline for the whole stream; both keep the partial text."""
import ssekit
from _common import target


def main() -> None:
    """Run one stream that stalls (locally staged) and one that outlasts its deadline."""
    with target(__doc__, pace=0.02) as where:
        body = {
            "model": where.model,
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me a long story."}],
        }
        if where.gateway:
            where.gateway.stall_next(after_tokens=5)  # the local gateway goes silent after 5 tokens
        try:
            # (connect, read): the read part is the longest silence allowed between bytes
            with ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 2)) as stream:
                for _ in stream:
                    pass
            print("read timeout: the stream finished in time")
        except ssekit.StreamTimeoutError as exc:
            print("read timeout: %r arrived before the server went silent" % exc.partial.text)

        try:
            # deadline: total seconds for the whole stream, however steadily bytes arrive
            with ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 30), deadline=0.4) as stream:
                for _ in stream:
                    pass
            print("deadline: the stream finished in time")
        except ssekit.StreamTimeoutError as exc:
            print("deadline: %d characters arrived before the deadline" % len(exc.partial.text))


if __name__ == "__main__":
    main()
