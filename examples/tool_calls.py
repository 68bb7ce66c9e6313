"""Streaming tool calls: the name and JSON arguments are rebuilt from fragments, ready to run."""
import ssekit
from _common import target, weather_request


def get_weather(city: str, unit: str) -> str:
    """The tool itself (a stand-in for a real weather lookup)."""
    return "18 degrees %s and sunny in %s" % (unit, city)


def main() -> None:
    """Offer one tool, let the model call it, and run the call."""
    with target(__doc__) as where:
        body = weather_request(where.model)
        with ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(5, 60)) as stream:
            for text in stream:  # a tool call usually comes without text
                print(text, end="", flush=True)
        completion = stream.completion
        print("finish_reason:", completion.finish_reason)
        for call in completion.tool_calls:
            arguments = call.parse_arguments()  # ToolCallArgumentsError if the JSON is broken
            print("tool call %s: %s(%s)" % (call.id, call.name, call.arguments))
            if call.name == "get_weather":
                print("result:", get_weather(**arguments))


if __name__ == "__main__":
    main()
