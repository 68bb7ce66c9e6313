"""Typed progress costs little over the text path: ``iter_updates`` against plain text accumulation, in one run.

    python bench/updates.py [--events N] [--repeat R] [--smoke]

For each format's built stream (text only, N events) the same bytes are read
three ways, interleaved, R times each, medians kept: the floor (split the
bytes into events, ``json.loads`` each data line), the text path (``iter_sse``
+ the format's accumulator, yielding each text delta, as iterating a
``CompletionStream`` does) and the updates path (``iter_sse`` +
``iter_updates``). Printed: updates / text and updates / floor (the target is
updates / text <= 1.1). Then a tool-call stream whose arguments arrive in
10-character fragments, at 10 KB, 100 KB and 1 MB of arguments: CPU
microseconds per fragment on the updates path, which parses each fragment once
(1.0x growth is flat). No HTTP.
"""
import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, Iterator, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssekit import iter_sse, iter_updates  # noqa: E402
from ssekit.formats import FORMATS, new_accumulator  # noqa: E402
from ssekit.testing.builders import build_events, sse_event  # noqa: E402

FRAGMENT = 10


def floor(data: bytes) -> int:
    """The least a reader does: split events, decode each data line's JSON."""
    count = 0
    for block in data.split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                json.loads(line[6:])
                count += 1
    return count


def texts(data: bytes, format: str) -> Iterator[str]:
    accumulator = new_accumulator(format)
    add = accumulator.add
    for event in iter_sse([data]):
        text = add(event)
        if text:
            yield text
    accumulator.finish()


def text_path(data: bytes, format: str) -> int:
    return sum(1 for _ in texts(data, format))


def updates_path(data: bytes, format: str) -> int:
    return sum(1 for _ in iter_updates(iter_sse([data]), format))


def cpu(call: Callable[[], Any]) -> float:
    start = time.process_time()
    call()
    return time.process_time() - start


def tool_arguments(size: int) -> str:
    """About *size* characters of JSON arguments: half one long string, half small members."""
    return json.dumps({"query": "x" * (size // 2), "items": [{"n": n, "ok": True} for n in range(size // 40)]})


def tool_stream(arguments: str) -> bytes:
    """A chat stream of one tool call whose *arguments* come in 10-character fragments."""

    def chunk(delta: Dict[str, Any], **choice: Any) -> bytes:
        return sse_event({"object": "chat.completion.chunk", "choices": [dict(choice, index=0, delta=delta)]})

    events = [chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]})]
    for start in range(0, len(arguments), FRAGMENT):
        events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[start : start + FRAGMENT]}}]}))
    events.append(chunk({}, finish_reason="tool_calls"))
    return b"".join(events) + b"data: [DONE]\n\n"


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: seconds, results checked")
    options = parser.parse_args(argv)
    events, repeat = (300, 1) if options.smoke else (options.events, options.repeat)
    print("Python %s, %s; %d text events per stream, %d interleaved runs, medians" % (sys.version.split()[0], sys.implementation.name, events, repeat))
    print("%-18s %14s %16s %16s" % ("format", "text / floor", "updates / floor", "updates / text"))
    for format in sorted(FORMATS):
        data = b"".join(build_events(format, "word " * events))
        runs = {"floor": [], "text": [], "updates": []}  # type: Dict[str, List[float]]
        for _ in range(repeat):
            runs["floor"].append(cpu(lambda: floor(data)))
            runs["text"].append(cpu(lambda: text_path(data, format)))
            runs["updates"].append(cpu(lambda: updates_path(data, format)))
        median = {name: statistics.median(values) for name, values in runs.items()}
        print("%-18s %14.3f %16.3f %16.3f" % (format, median["text"] / median["floor"], median["updates"] / median["floor"], median["updates"] / median["text"]))
    sizes = (1000, 10000) if options.smoke else (10000, 100000, 1000000)
    print("\nTool-call arguments in %d-character fragments, updates path: CPU us per fragment" % FRAGMENT)
    costs = []
    for size in sizes:
        arguments = tool_arguments(size)
        data = tool_stream(arguments)
        fragments = -(-len(arguments) // FRAGMENT)
        last = [None]  # type: List[Any]

        def run() -> None:
            for update in iter_updates(iter_sse([data]), "chat_completions"):
                if update.kind == "tool_call_delta":
                    last[0] = update.arguments

        best = min(cpu(run) for _ in range(max(1, repeat // 3)))
        assert last[0] == json.loads(arguments), "the last delta's arguments are the whole arguments"
        costs.append(best / fragments * 1e6)
        print("%10d bytes %10.2f" % (size, costs[-1]))
    print("growth %.1fx from %d to %d bytes (1.0x is flat)" % (costs[-1] / costs[0], sizes[0], sizes[-1]))


if __name__ == "__main__":
    main(sys.argv[1:])
