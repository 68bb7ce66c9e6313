"""Cohere v2 chat: POST /v2/chat; hyphenated events, usage from usage.tokens, the tool plan in reasoning."""
import re

import ssekit
from _common import target


def main() -> None:
    """Stream one answer; COMPLETE becomes "stop", billed units stay in usage.raw beside the token counts."""
    with target(__doc__) as where:
        body = {
            "model": where.model,
            "stream": True,
            "max_tokens": 300,
            "messages": [{"role": "system", "content": "Answer briefly."},
                         {"role": "user", "content": "What is in a message-end event?"}],  # fmt: skip
        }
        # Cohere's path carries its own version: https://api.cohere.com, .../v1 or .../v2 all give .../v2/chat.
        url = re.sub(r"/v[12]$", "", where.base_url) + "/v2/chat"
        with ssekit.stream_completion(url, json=body, format="cohere") as stream:
            for text in stream:
                print(text, end="", flush=True)
        completion = stream.completion
        print()
        print("finish_reason: %s (raw %r)" % (completion.finish_reason, completion.raw_finish_reason))
        billed = completion.usage.raw.get("billed_units", {})
        print("usage: %d in, %d out (billed: %s in, %s out)"
              % (completion.usage.input_tokens, completion.usage.output_tokens, billed.get("input_tokens"), billed.get("output_tokens")))


if __name__ == "__main__":
    main()
