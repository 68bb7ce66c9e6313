"""Show everything as it streams, whatever the format: text, reasoning, and tool calls with their arguments so far.

``stream.updates()`` yields typed records (``kind`` = text, reasoning,
tool_call_start, tool_call_delta, tool_call_done, usage, finish), so the same
loop serves Chat Completions, Responses, Anthropic, Gemini and Cohere.
"""
import ssekit
from _common import target, weather_request


def call_line(name: object, arguments: object) -> str:
    """``get_weather(city='Par'`` from a tool name and its arguments parsed so far."""
    shown = ", ".join("%s=%r" % item for item in arguments.items()) if isinstance(arguments, dict) else ""
    return "calling %s(%s" % (name, shown)


def main() -> None:
    with target(__doc__) as where:
        body = weather_request(where.model)
        with ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 60)) as stream:
            for update in stream.updates():
                if update.kind == "text":
                    print(update.text, end="", flush=True)
                elif update.kind == "reasoning":
                    print("\x1b[2m%s\x1b[0m" % update.text, end="", flush=True)
                elif update.kind == "tool_call_start":
                    print("\n" + call_line(update.name, {}), end="", flush=True)
                elif update.kind == "tool_call_delta":
                    print("\r" + call_line(update.name, update.arguments), end="", flush=True)
                elif update.kind == "tool_call_done":
                    print("\r" + call_line(update.tool_call.name, update.tool_call.parse_arguments()) + ")")
                elif update.kind == "usage":
                    print("\nusage:", update.usage.input_tokens, "in,", update.usage.output_tokens, "out")
                elif update.kind == "finish":
                    print("\nfinish_reason:", update.finish_reason)


if __name__ == "__main__":
    main()
