"""In-memory throughput of the decoder and the accumulators, without any HTTP.

    python bench/decoder.py [--events N] [--chunk BYTES]

Decodes the benchmark's OpenAI chat stream (``bench/streams.py``) from memory
in fixed-size chunks, then accumulates it, then encodes the decoded events
back to bytes (what a relay writes), and prints events/s and MB/s for each
(best of five, process CPU time). The HTTP benchmarks are in ``run.py``.
"""
import argparse
import os
import sys
import time
from typing import Callable, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ssekit  # noqa: E402
from streams import build  # noqa: E402


def best_cpu_seconds(work: Callable[[], object], repetitions: int = 5) -> float:
    """The least CPU time *work* took over *repetitions* runs."""
    best = float("inf")
    for _ in range(repetitions):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200000, help="content events (default 200000)")
    parser.add_argument("--chunk", type=int, default=65536, help="bytes per fed chunk (default 65536)")
    options = parser.parse_args(argv)
    stream = build("chat", options.events)
    body = stream.body
    chunks = [body[i : i + options.chunk] for i in range(0, len(body), options.chunk)]
    count = sum(1 for _ in ssekit.iter_sse(chunks))
    assert count == stream.count, (count, stream.count)
    completion = ssekit.accumulate(ssekit.iter_sse(chunks))
    assert completion.usage.output_tokens == options.events, completion.usage
    megabytes = len(body) / 1e6
    print("chat stream: %d events, %.1f MB (%.0f B/event), %d-byte chunks, Python %s"
          % (count, megabytes, len(body) / count, options.chunk, sys.version.split()[0]))
    for name, work in (
        ("iter_sse", lambda: sum(1 for _ in ssekit.iter_sse(chunks))),
        ("iter_sse + accumulate", lambda: ssekit.accumulate(ssekit.iter_sse(chunks))),
    ):
        report(name, best_cpu_seconds(work), count, megabytes)
    events = list(ssekit.iter_sse(chunks))  # built last: 200k live events would slow the rows above
    assert list(ssekit.iter_sse([b"".join(event.encode() for event in events)])) == events
    report("encode", best_cpu_seconds(lambda: [event.encode() for event in events]), count, megabytes)


def report(name: str, seconds: float, count: int, megabytes: float) -> None:
    """Print one row: *count* events and *megabytes* of stream handled in *seconds*."""
    print("%-22s %10.0f events/s %8.1f MB/s" % (name, count / seconds, megabytes / seconds))


if __name__ == "__main__":
    main(sys.argv[1:])
