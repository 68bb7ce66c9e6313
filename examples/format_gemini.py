"""Google Gemini: POST /models/{model}:streamGenerateContent?alt=sse with x-goog-api-key; no [DONE], usage in every chunk."""
import ssekit
from _common import target


def main() -> None:
    """Stream one answer; MAX_TOKENS shows as finish_reason "length", the last usage snapshot wins.

    The model goes in the path and the key in the x-goog-api-key header (never in the URL);
    with --base-url give Google's, e.g. https://generativelanguage.googleapis.com/v1beta.
    """
    with target(__doc__) as where:
        if where.gateway is not None:  # the local gateway serves Gemini where Google does, under /v1beta
            url = where.gateway.url("gemini", model=where.model)
        else:
            url = where.url("/models/%s:streamGenerateContent?alt=sse" % where.model)
        body = {
            "systemInstruction": {"parts": [{"text": "Answer briefly."}]},
            "contents": [{"role": "user", "parts": [{"text": "What does a streamGenerateContent chunk carry?"}]}],
            "generationConfig": {"maxOutputTokens": 30},
        }
        with ssekit.stream_completion(url, json=body, format="gemini") as stream:  # the key goes as x-goog-api-key
            for text in stream:
                print(text, end="", flush=True)
        completion = stream.completion
        print()
        print("finish_reason: %s (raw: %r)" % (completion.finish_reason, completion.raw_finish_reason))
        usage = completion.usage
        print("usage: %d in, %d out (%s thinking), responseId %s"
              % (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens or 0, completion.id))
        parts = completion.output[0]["parts"]  # the model turn, verbatim: send it back as is
        print("parts: %d, %d with a thoughtSignature" % (len(parts), sum("thoughtSignature" in part for part in parts)))


if __name__ == "__main__":
    main()
