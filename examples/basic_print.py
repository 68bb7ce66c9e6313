"""Print an LLM answer as it streams in: the basic loop."""
import ssekit
from _common import target


def main() -> None:
    """Ask one question and print each text delta the moment it arrives."""
    with target(__doc__) as where:
        body = {
            "model": where.model,
            "stream": True,
            "messages": [{"role": "user", "content": "What are server-sent events?"}],
        }
        with ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 60)) as stream:
            for text in stream:
                print(text, end="", flush=True)
        print()


if __name__ == "__main__":
    main()
