"""Anthropic Messages: POST /messages with x-api-key and anthropic-version; stop reasons are normalised."""
import ssekit
from _common import target


def main() -> None:
    """Stream one answer; end_turn becomes "stop", input and output usage are merged from two events."""
    with target(__doc__) as where:
        headers = {"anthropic-version": "2023-06-01"}
        if where.api_key:
            headers["x-api-key"] = where.api_key  # Anthropic's own header (ssekit also sends a Bearer header)
        body = {
            "model": where.model,
            "stream": True,
            "max_tokens": 300,  # required by the Messages API
            "system": "Answer briefly.",
            "messages": [{"role": "user", "content": "What is in a message_delta event?"}],
        }
        with ssekit.stream_completion(where.url("/messages"), json=body, headers=headers, format="messages") as stream:
            for text in stream:
                print(text, end="", flush=True)
        completion = stream.completion
        print()
        print("finish_reason: %s (stop_reason %r)" % (completion.finish_reason, completion.raw_finish_reason))
        print("usage: %d in (message_start), %d out (message_delta)"
              % (completion.usage.input_tokens, completion.usage.output_tokens))


if __name__ == "__main__":
    main()
