"""Token usage and speed: ask for the usage chunk, then report tokens, time to first token and tokens/s."""
import time

import ssekit
from _common import target


def main() -> None:
    """Stream one answer, timing it, and print the usage the provider reported."""
    with target(__doc__) as where:
        body = {
            "model": where.model,
            "stream": True,
            "stream_options": {"include_usage": True},  # OpenAI sends usage in a last chunk only when asked
            "messages": [{"role": "user", "content": "Why do LLM APIs stream?"}],
        }
        start = time.monotonic()
        first = None
        with ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 60)) as stream:
            for _ in stream:
                first = first or time.monotonic()
        end = time.monotonic()
        usage = stream.completion.usage
        print("input tokens:", usage.input_tokens)
        print("output tokens:", usage.output_tokens)
        print("total tokens:", usage.total_tokens)
        print("provider's own usage fields:", sorted(usage.raw))
        if first is not None and usage.output_tokens:
            print("time to first token: %.3f s" % (first - start))
            print("speed: %.0f tokens/s" % (usage.output_tokens / max(end - first, 1e-6)))


if __name__ == "__main__":
    main()
