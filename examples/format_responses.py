"""OpenAI Responses API: POST /responses with "input" and "instructions"; typed events, usage at the end."""
import ssekit
from _common import target


def main() -> None:
    """Stream one answer; a max_output_tokens cut shows as finish_reason "length"."""
    with target(__doc__) as where:
        body = {
            "model": where.model,
            "stream": True,
            "instructions": "Answer briefly.",
            "input": "What does response.output_text.delta carry?",
            "max_output_tokens": 30,
        }
        with ssekit.stream_completion(where.url("/responses"), json=body, format="responses") as stream:
            for text in stream:
                print(text, end="", flush=True)
        completion = stream.completion
        print()
        print("finish_reason: %s (raw: %r)" % (completion.finish_reason, completion.raw_finish_reason))
        print("usage: %d in, %d out, id %s" % (completion.usage.input_tokens, completion.usage.output_tokens, completion.id))


if __name__ == "__main__":
    main()
