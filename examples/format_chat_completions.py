"""OpenAI Chat Completions (and the many gateways that copy it): POST /chat/completions."""
import ssekit
from _common import target


def main() -> None:
    """Stream one answer and show the normalised result next to the provider's own values."""
    with target(__doc__) as where:
        body = {
            "model": where.model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 40,
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "What is a chat completion chunk?"},
            ],
        }
        with ssekit.stream_completion(where.url("/chat/completions"), json=body, format="chat_completions") as stream:
            for text in stream:
                print(text, end="", flush=True)
        completion = stream.completion
        print()
        print("finish_reason: %s (sent as %r)" % (completion.finish_reason, completion.raw_finish_reason))
        print("usage: %d in, %d out (sent as %s)" % (completion.usage.input_tokens, completion.usage.output_tokens,
                                                   ", ".join(sorted(completion.usage.raw))))


if __name__ == "__main__":
    main()
