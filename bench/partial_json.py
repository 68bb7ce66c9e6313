"""Partial JSON stays flat: tool arguments fed in 10-character fragments, ``value`` read after each.

    python bench/partial_json.py [--max-size BYTES] [--repeat R]

Two kinds of arguments, each built at 10 KB, 100 KB and 1 MB: an object of
many small members (strings with escapes, numbers, literals, small arrays and
objects), and an object holding one long string. Each is fed to a
:class:`~ssekit.partial_json.PartialJSONParser` 10 characters at a time and its
``value`` read after every fragment, as a UI showing a tool call's arguments
does. Printed: CPU microseconds per fragment (best of R runs) and how that cost
grows from 10 KB to 1 MB (1.0 is flat; re-parsing every prefix would grow
100x). The long string is also fed without reading ``value``: reading it
while a string is cut builds that string, which costs its length, so that row
grows with the size while the parser alone stays flat. Then the same
through a chat accumulator: :meth:`~ssekit.completion.ToolCall.partial_arguments`
called on ``.completion.tool_calls[0]`` after every fragment, timed alone
(the snapshots of one call share one parser), beside the same call's
arguments re-parsed whole by :func:`~ssekit.partial_json.parse_partial_json`
(what a parser without state costs; timed on 20 fragments spread over the stream). Last, one-shot
:func:`~ssekit.partial_json.parse_partial_json` on the complete 1 MB documents
(the json.loads fast path) and on the documents cut by one character (the
parser), against json.loads on the complete document.
"""
import argparse
import json
import os
import random
import sys
import time
from typing import Callable, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssekit.formats.chat_completions import ChatCompletionsAccumulator  # noqa: E402
from ssekit.partial_json import PartialJSONParser, parse_partial_json  # noqa: E402

FRAGMENT = 10
SIZES = (10000, 100000, 1000000)
REPARSED = 20  # calls timed for the re-parse row: each parses its whole prefix


def many_members(size: int) -> str:
    """A JSON object of about *size* characters made of small members of every kind."""
    rng = random.Random(size)
    members = []  # type: List[str]
    length = 2
    number = 0
    while length < size:
        kind = number % 6
        if kind == 0:
            value = json.dumps("city %d \u00e9\n\"q\"" % rng.randint(0, 99999))
        elif kind == 1:
            value = str(rng.randint(-10 ** 6, 10 ** 6))
        elif kind == 2:
            value = repr(rng.random() * 1e3)
        elif kind == 3:
            value = rng.choice(["true", "false", "null"])
        elif kind == 4:
            value = json.dumps([rng.randint(0, 9), "x", 2.5])
        else:
            value = json.dumps({"unit": "celsius", "n": number})
        member = '"key_%d": %s' % (number, value)
        members.append(member)
        length += len(member) + 2
        number += 1
    return "{" + ", ".join(members) + "}"


def long_string(size: int) -> str:
    """A JSON object of about *size* characters: one member whose string holds nearly all of them."""
    unit = "Lorem ipsum dolor sit amet, \\\"quoted\\\" \\u00e9t\\u00e9\\n"
    text = (unit * (size // len(unit) + 1))[: size - 14]
    while text.endswith("\\") or "\\" in text[-6:]:  # do not end inside an escape
        text = text[:-1]
    return '{"content": "' + text + '"}'


def feed(document: str, read: bool) -> float:
    """CPU seconds to feed *document* in fragments, reading ``value`` after each when *read*."""
    fragments = [document[i : i + FRAGMENT] for i in range(0, len(document), FRAGMENT)]
    parser = PartialJSONParser()
    start = time.process_time()
    if read:
        for fragment in fragments:
            parser.feed(fragment)
            parser.value
    else:
        for fragment in fragments:
            parser.feed(fragment)
        parser.value
    elapsed = time.process_time() - start
    assert parser.complete and parser.value == json.loads(document)
    return elapsed


def poll(document: str, reparse: bool) -> float:
    """Seconds per call of ``partial_arguments()`` (or, with *reparse*, of parse_partial_json) after each fragment."""
    accumulator = ChatCompletionsAccumulator()
    opening = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "write", "arguments": ""}}
    accumulator.add({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [opening]}}]})
    spent = 0.0
    calls = 0
    clock = time.perf_counter
    starts = range(0, len(document), FRAGMENT)
    sample = max(1, len(starts) // REPARSED)
    for number, start in enumerate(starts):
        fragment = {"index": 0, "function": {"arguments": document[start : start + FRAGMENT]}}
        accumulator.add({"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]})
        if reparse and (len(starts) - 1 - number) % sample:
            continue
        call = accumulator.completion.tool_calls[0]
        began = clock()
        value = parse_partial_json(call.arguments) if reparse else call.partial_arguments()
        spent += clock() - began
        calls += 1
    assert value == json.loads(document)
    return spent / calls


def best(run: Callable[[], float], repeat: int) -> float:
    return min(run() for _ in range(repeat))


def timed(call: Callable[[], object], repeat: int) -> float:
    def once() -> float:
        start = time.process_time()
        call()
        return time.process_time() - start

    return best(once, repeat)


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--max-size", type=int, default=SIZES[-1], help="largest document (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, best kept (default 3)")
    options = parser.parse_args(argv)
    sizes = [size for size in SIZES if size <= options.max_size] or [options.max_size]
    print("Python %s, %s" % (sys.version.split()[0], sys.implementation.name))
    print("CPU us per %d-character fragment (feed, then read value):" % FRAGMENT)
    print("%-32s" % "" + "".join("%12s" % ("%d KB" % (size // 1000)) for size in sizes) + "%10s" % "growth")
    rows = [
        ("many small members, value read", many_members, True),
        ("one long string, value read", long_string, True),
        ("one long string, value not read", long_string, False),
    ]
    for label, build, read in rows:
        costs = []  # type: List[float]
        for size in sizes:
            document = build(size)
            seconds = best(lambda: feed(document, read), options.repeat)
            costs.append(seconds / -(-len(document) // FRAGMENT) * 1e6)
        print("%-32s" % label + "".join("%12.2f" % cost for cost in costs) + "%9.1fx" % (costs[-1] / costs[0]))
    print("\nToolCall.partial_arguments() on .completion after every fragment, us per call:")
    for label, build in (("many small members", many_members), ("one long string", long_string)):
        for reparse in (False, True):
            costs = [best(lambda: poll(build(size), reparse), options.repeat) * 1e6 for size in sizes]
            what = "%s, %s" % (label, "re-parsed whole" if reparse else "partial_arguments()")
            print("%-52s" % what + "".join("%10.2f" % cost for cost in costs) + "%9.1fx" % (costs[-1] / costs[0]))
    print("\nOne-shot on the %d KB documents (ms):" % (sizes[-1] // 1000))
    for label, build in (("many small members", many_members), ("one long string", long_string)):
        document = build(sizes[-1])
        loads = timed(lambda: json.loads(document), options.repeat)
        whole = timed(lambda: parse_partial_json(document), options.repeat)
        cut = timed(lambda: parse_partial_json(document[:-1]), options.repeat)
        print(
            "%-20s json.loads %7.2f | parse_partial_json complete %7.2f (%.2fx) | cut by one %8.2f (%.1fx)"
            % (label, loads * 1e3, whole * 1e3, whole / loads, cut * 1e3, cut / loads)
        )


if __name__ == "__main__":
    main(sys.argv[1:])
