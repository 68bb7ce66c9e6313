"""Simple gateway "generation" frames: generation_start, content_delta, generation_end with token accounting."""
import ssekit
from _common import target


def main() -> None:
    """Stream one answer and read the gateway's accounting (tokens_used, balance_remaining)."""
    with target(__doc__) as where:
        body = {"model": where.model, "stream": True, "prompt": "What is a generation frame?"}
        with ssekit.stream_completion(where.url("/generate"), json=body, format="generation") as stream:
            for text in stream:
                print(text, end="", flush=True)
        completion = stream.completion
        print()
        print("finish_reason:", completion.finish_reason)
        print("tokens_used: %s, balance_remaining: %s"
              % (completion.usage.total_tokens, completion.usage.raw.get("balance_remaining")))
        print("generation id (log it for support):", completion.id)


if __name__ == "__main__":
    main()
