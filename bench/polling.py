"""Reading ``.completion`` after every event stays flat: polled against unpolled accumulation, in one run.

    python bench/polling.py [--max-events N] [--repeat R] [--json]

For a text stream and a tool-call stream (chat chunks of ten characters
each), the same events are accumulated twice: plainly, and with a snapshot
taken after every event (as a progress display or ``on_event`` hook does),
reading its text (or the tool call's arguments) every 1,000 events. Printed:
CPU microseconds per event for 10k, 100k and 1M events (best of R runs), the
ratio polled / unpolled, and how the cost per event grows from the smallest
to the largest stream (1.0 is flat; quadratic polling would grow 100x).
No HTTP; the accumulators alone.
"""
import argparse
import json
import os
import sys
import time
from typing import Callable, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssekit import ChatCompletionsAccumulator  # noqa: E402

TEXT = json.dumps({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "abcdefghij"}}]})
ARGUMENTS = json.dumps(
    {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "abcdefghij"}}]}}]}
)
READ_EVERY = 1000


def run(event: str, count: int, poll: bool, read: Callable[[object], int]) -> float:
    """CPU seconds to accumulate *count* copies of *event*, taking a snapshot after each when *poll*."""
    accumulator = ChatCompletionsAccumulator()
    add = accumulator.add
    start = time.process_time()
    if poll:
        for number in range(count):
            add(event)
            snapshot = accumulator.completion
            if number % READ_EVERY == 0:
                read(snapshot)
    else:
        for _ in range(count):
            add(event)
    read(accumulator.completion)
    return time.process_time() - start


def best(event: str, count: int, poll: bool, read: Callable[[object], int], repeat: int) -> float:
    return min(run(event, count, poll, read) for _ in range(repeat))


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-events", type=int, default=1000000, help="largest stream (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, best kept (default 3)")
    parser.add_argument("--json", action="store_true", help="one JSON line per figure instead of the table (bench/run.py reads it)")
    options = parser.parse_args(argv)
    sizes = [size for size in (10000, 100000, 1000000) if size <= options.max_events] or [options.max_events]
    readers = {
        "text": (TEXT, lambda completion: len(completion.text)),  # type: ignore[attr-defined]
        "tool arguments": (ARGUMENTS, lambda completion: len(completion.tool_calls[0].arguments)),  # type: ignore[attr-defined]
    }  # type: dict
    if not options.json:
        print("Python %s; CPU microseconds per event, best of %d" % (sys.version.split()[0], options.repeat))
        print("| stream | events | unpolled | polled | polled / unpolled |")
        print("|---|---|---|---|---|")
    for name, (event, read) in readers.items():
        rows = []  # type: List[Tuple[int, float, float]]
        for size in sizes:
            plain = best(event, size, False, read, options.repeat) / size * 1e6
            polled = best(event, size, True, read, options.repeat) / size * 1e6
            rows.append((size, plain, polled))
            if options.json:  # one line per figure, for bench/run.py
                print(json.dumps({"stream": name, "events": size, "unpolled_us": plain, "polled_us": polled}), flush=True)
            else:
                print("| %s | %d | %.2f | %.2f | %.2f |" % (name, size, plain, polled, polled / plain))
        if not options.json:
            print("| %s | growth per event, %d -> %d | %.2f | %.2f | |"
                  % (name, rows[0][0], rows[-1][0], rows[-1][1] / rows[0][1], rows[-1][2] / rows[0][2]))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
