"""A tool loop: the model asks for tools, the script runs them, the answer streams on with their results.

With no arguments it runs against the embedded local gateway (chat
completions); ``--base-url/--model/--format`` point it at a real provider
(``--format`` one of chat_completions, responses, messages, cohere, gemini).
"""
import argparse
import json
from typing import Any, Dict, List

import ssekit
from _common import target

FORMATS = ("chat_completions", "responses", "messages", "cohere", "gemini")
#: Where each format's API lives under its base URL.
PATHS = {"chat_completions": "/chat/completions", "responses": "/responses", "messages": "/messages", "cohere": "/chat",
         "gemini": "/models/{model}:streamGenerateContent?alt=sse"}  # fmt: skip
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "examples": ["Paris"]}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
}


def get_weather(city: str, unit: str) -> Dict[str, Any]:
    """The tool itself (a stand-in for a real weather lookup)."""
    return {"city": city, "temperature": 18, "unit": unit, "sky": "sunny"}


def request(format: str, model: str, question: str) -> Dict[str, Any]:
    """The first request of *format*: the question and the one tool offered, in the provider's shapes."""
    description = "Current weather for a city"
    if format in ("chat_completions", "cohere"):
        tools = [{"type": "function", "function": {"name": "get_weather", "description": description, "parameters": WEATHER}}]  # type: List[Any]
        body = {"model": model, "messages": [{"role": "user", "content": question}], "tools": tools}  # type: Dict[str, Any]
    elif format == "responses":
        tools = [{"type": "function", "name": "get_weather", "description": description, "parameters": WEATHER}]
        body = {"model": model, "input": question, "tools": tools, "include": ["reasoning.encrypted_content"], "store": False}
    elif format == "messages":
        tools = [{"name": "get_weather", "description": description, "input_schema": WEATHER}]
        body = {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": question}], "tools": tools}
    else:
        tools = [{"functionDeclarations": [{"name": "get_weather", "description": description, "parameters": WEATHER}]}]
        return {"contents": [{"role": "user", "parts": [{"text": question}]}], "tools": tools}
    body["stream"] = True
    return body


def main() -> None:
    """Ask about the weather, let the loop run the tool, print the answer and the conversation."""
    with target(__doc__, pass_on=True) as where:
        parser = argparse.ArgumentParser()
        parser.add_argument("--format", choices=FORMATS, default="chat_completions")
        format = parser.parse_args(where.rest).format
        if where.gateway is not None:  # the local gateway serves each format at its provider's own path
            url = where.gateway.url(format, model=where.model)
        else:
            url = where.url(PATHS[format].replace("{model}", where.model))
        loop = ssekit.tool_loop(url, json=request(format, where.model, "What's the weather in Paris?"), format=format,
                                tools={"get_weather": get_weather}, max_rounds=4, timeout=(5, 60), deadline=120)  # fmt: skip
        for text in loop:
            print(text, end="", flush=True)
        print()
        print("rounds: %d, finish_reason: %s" % (loop.rounds, loop.completion.finish_reason if loop.completion else None))
        print("history:", json.dumps(loop.history, ensure_ascii=False)[:2000])


if __name__ == "__main__":
    main()
