"""Stream-control figures against the local server: cancel latency, deadline overshoot, leaks.

    python bench/control.py [--repeat N] [--streams N]

How long ``.cancel()`` (or a ``threading.Event``) takes to end a loop whose
read is blocked on the socket, how far past a deadline a stream ends, and the
file descriptors and threads left after many streams broken off early.
"""
import argparse
import os
import statistics
import sys
import threading
import time
from typing import Callable, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import requests  # noqa: E402
import urllib3  # noqa: E402

import ssekit  # noqa: E402
from ssekit.testing import ScriptedResponse, SSEServer, chat_completions_events  # noqa: E402

HEAD = chat_completions_events("Hello there, world")[:3]  # role chunk, "Hello", " there"


def open_fds() -> int:
    """File descriptors this process holds (Linux)."""
    return len(os.listdir("/proc/self/fd"))


def cancel_latency(url: str, use_event: bool) -> float:
    """Seconds from the cancel to the end of a loop blocked on a silent server."""
    event = threading.Event() if use_event else None
    stream = ssekit.stream_completion(url, json={}, timeout=(2, 30), cancel=event)
    fired = []  # type: List[float]

    def fire() -> None:
        fired.append(time.monotonic())
        if event is not None:
            event.set()
        else:
            stream.cancel()

    timer = threading.Timer(0.05, fire)
    with stream:
        timer.start()
        for _ in stream:
            pass
    ended = time.monotonic()
    timer.join()
    assert stream.cancelled, "the stream ended without being cancelled"
    return ended - fired[0]


def deadline_overshoot(url: str, deadline: float) -> float:
    """Seconds past *deadline* at which StreamTimeoutError arrives."""
    start = time.monotonic()
    try:
        with ssekit.stream_completion(url, json={}, deadline=deadline, timeout=(2, 5)) as stream:
            list(stream)
    except ssekit.StreamTimeoutError:
        return time.monotonic() - start - deadline
    raise AssertionError("the deadline did not stop the stream")


def summary(label: str, seconds: List[float]) -> None:
    print("%-52s median %6.2f ms, max %6.2f ms (n=%d)"
          % (label, statistics.median(seconds) * 1e3, max(seconds) * 1e3, len(seconds)))


def repeat(count: int, measure: Callable[[], float]) -> List[float]:
    return [measure() for _ in range(count)]


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="measurements per figure (default 30)")
    parser.add_argument("--streams", type=int, default=300, help="streams broken off early (default 300)")
    options = parser.parse_args(argv)
    print("Python %s, requests %s, urllib3 %s"
          % (sys.version.split()[0], requests.__version__, urllib3.__version__))
    with SSEServer() as server:
        for framing in ("chunked", "close"):
            server.script("/stall-" + framing, ScriptedResponse.sse(HEAD, stall=True, framing=framing))
            for use_event in (False, True):
                how = "threading.Event" if use_event else ".cancel()"
                url = server.url("/stall-" + framing)
                summary("cancel, blocked read, %s, %s" % (framing, how),
                        repeat(options.repeat, lambda: cancel_latency(url, use_event)))
        server.script("/keepalive", ScriptedResponse.sse([HEAD[1]] + [0.05, b": keep-alive\n\n"] * 400))
        server.script("/silent", ScriptedResponse.sse([HEAD[1]], stall=True))
        for path, label in (("/keepalive", "keep-alives every 50 ms"), ("/silent", "silent server")):
            url = server.url(path)
            summary("deadline 0.5 s overshoot, %s" % label,
                    repeat(max(2, options.repeat // 3), lambda: deadline_overshoot(url, 0.5)))
        url = server.url("/stall-chunked")
        for _ in ssekit.stream_completion(url, json={}):  # warm up imports and the server's threads
            break
        time.sleep(0.3)
        fds_before, threads_before = open_fds(), threading.active_count()
        start = time.monotonic()
        for n in range(options.streams):
            stream = ssekit.stream_completion(url, json={}, timeout=(2, 5), cancel=threading.Event() if n % 2 else None)
            for _ in stream:
                break
            assert stream.cancelled
        took = time.monotonic() - start
        time.sleep(0.5)  # the server closes its ends asynchronously
        print("%d streams broken off after the first delta in %.2f s: fds %d before, %d after; threads %d before, %d after"
              % (options.streams, took, fds_before, open_fds(), threads_before, threading.active_count()))


if __name__ == "__main__":
    main()
