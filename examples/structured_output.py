"""Structured output: read the JSON object a JSON-mode answer has streamed so far, field by field.

Ask for JSON (``response_format``), feed each text delta to a
``PartialJSONParser`` and read its ``value``: a cut string is shown as far as
it goes, a cut number only once it is complete. The whole stream costs O(n).
"""
import json

import ssekit
from _common import target

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temperature_c": {"type": "number"}, "summary": {"type": "string"}},
    "required": ["city", "temperature_c", "summary"],
}


def main() -> None:
    with target(__doc__) as where:
        if where.gateway is not None:  # the local gateway answers what it is told to
            where.gateway.answer = json.dumps({"city": "Paris", "temperature_c": 18.5, "summary": "Sunny with a light breeze."})
        body = {
            "model": where.model,
            "stream": True,
            "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA}},
            "messages": [{"role": "user", "content": "The weather in Paris, as JSON."}],
        }
        parser = ssekit.PartialJSONParser()
        with ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 60)) as stream:
            try:
                for text in stream:
                    parser.feed(text)
                    print("so far:", parser.value)
            except ssekit.PartialJSONError as exc:  # (a model that ignored response_format)
                print("the answer is not JSON (%s); so far: %r" % (exc, parser.value))
                return
        print("complete:", parser.complete, "->", json.loads(stream.completion.text) == parser.value)


if __name__ == "__main__":
    main()
