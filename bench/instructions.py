"""Instructions per event under callgrind: ssekit's decoder and accumulators against the floor's, noise-free.

    python bench/instructions.py [--events N] [--formats chat,tools,messages] [--python PY]

One process under ``valgrind --tool=callgrind`` builds each stream
(``bench/streams.py``) in memory, cuts it into 64 KiB chunks and runs each
*mode* over it once to warm up, then once inside ``eval()``: callgrind
collects only inside ``builtin_eval`` (``--toggle-collect``) and dumps the
count after each call, so every figure is the instructions of that mode's
run alone, divided by the stream's events. Modes:

- ``split``: the floor's ``bytes.split`` loop (``clients.floor_split``), each
  event's data decoded to ``str``, no JSON;
- ``iter_sse``: ``ssekit.iter_sse`` over the same chunks, each event's data taken;
- ``floor``: the floor client's whole work: split, ``json.loads``, extraction;
- ``accumulate``: ``iter_sse`` into the format's accumulator, then ``finish()``;
- ``polled``: the same, reading ``.completion`` after every event (a progress
  display's snapshot), against ``accumulate``;
- ``updates``: ``iter_updates`` over ``iter_sse``, each text record's text
  taken: the typed-progress path, against ``accumulate`` (the text path);
- ``stream_text`` and ``stream_updates`` (where the interpreter has
  requests): ``stream_completion`` over loopback from ``bench/server.py``
  (a process of its own, not counted), its text iterated, or its
  ``updates()`` with each text record's text taken: the two paths a caller
  has, whole, in a second callgrind run of the full package.

Printed: instructions per event and the ratios ``iter_sse / split`` (the
decoder), ``accumulate / floor``, ``polled / accumulate``, ``updates / accumulate`` and ``stream_updates / stream_text``. Counts do not depend on the machine's
load, so small streams (2,000 events: seconds) suffice. ssekit's
standard-library layers are imported without its ``__init__`` (and so
without requests), which keeps the process short. CPython only: without
valgrind, or on PyPy (a JIT), there are no figures.
"""
import argparse
import gc
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import types
from typing import Any, Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import streams  # noqa: E402  (bench/ is not a package)

MODES = ("split", "iter_sse", "floor", "accumulate", "polled", "updates")
HTTP_MODES = ("stream_text", "stream_updates")
CHUNK = 65536
COUNTED = compile("run()", "counted", "eval")  # compiled here, so the count holds the run alone


def _import_stdlib_layers() -> Any:
    """ssekit's decoder and formats, from this checkout, without the package's ``__init__`` (requests)."""
    package = types.ModuleType("ssekit")
    package.__path__ = [os.path.join(ROOT, "ssekit")]
    sys.modules["ssekit"] = package
    import ssekit.formats
    import ssekit.sse

    return ssekit


def work(mode: str, fmt: str, chunks: List[bytes]) -> Callable[[], None]:
    """The run of *mode* over *chunks* of a *fmt* stream, as a function of no arguments."""
    import clients

    ssekit = sys.modules["ssekit"]
    separator = streams.SEPARATORS.get(fmt, b"\n\n")
    accumulator_class = ssekit.formats.FORMATS[clients._ACCUMULATORS[fmt]].accumulator

    def run() -> None:
        kept = []  # type: List[Any]
        if mode == "split":
            clients.floor_split(chunks, separator, str, kept.append)
        elif mode == "iter_sse":
            append = kept.append
            for event in ssekit.sse.iter_sse(chunks):
                append(event.data)
        elif mode == "floor":
            out = clients.Extracted()
            clients.floor_split(chunks, separator, json.loads, clients.extractor(fmt, kept.append, out))
            out.result()
        elif mode == "accumulate":
            accumulator = accumulator_class()
            add, append = accumulator.add, kept.append
            for event in ssekit.sse.iter_sse(chunks):
                delta = add(event)
                if delta:
                    append(delta)
            accumulator.finish()
        elif mode == "polled":  # accumulate, reading a snapshot after every event (as a progress display does)
            accumulator = accumulator_class()
            add = accumulator.add
            for event in ssekit.sse.iter_sse(chunks):
                add(event)
                accumulator.completion
            accumulator.finish()
        else:
            append = kept.append
            for update in ssekit.formats.iter_updates(ssekit.sse.iter_sse(chunks), accumulator_class.format):
                if update.kind == "text":
                    append(update.text)

    return run


def http_work(mode: str, fmt: str, url: str) -> Callable[[], None]:
    """The run of an HTTP *mode*: ``stream_completion`` of *url*, its text or its updates taken."""
    import requests
    import ssekit

    session = requests.Session()
    body = streams.request_body(fmt)

    def run() -> None:
        kept = []  # type: List[str]
        append = kept.append
        with ssekit.stream_completion(url, json=body, session=session) as stream:
            if mode == "stream_text":
                for text in stream:
                    append(text)
            else:
                for update in stream.updates():
                    if update.kind == "text":
                        append(update.text)

    return run


def http_child(formats: List[str], urls: List[str]) -> None:
    """Count the HTTP modes on every stream (the full package, requests and all)."""
    sys.path.insert(0, ROOT)
    for fmt, url in zip(formats, urls):
        for mode in HTTP_MODES:
            run = http_work(mode, fmt, url)
            run()
            gc.collect()  # (each count starts from a collected heap: no mode pays for another's garbage)
            eval(COUNTED, {"run": run})


def child(formats: List[str], n: int) -> None:
    """Run every mode on every stream: a warm-up call, then the counted one inside ``eval``."""
    _import_stdlib_layers()
    for fmt in formats:
        body = streams.build(fmt, n).body
        chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
        for mode in MODES:
            run = work(mode, fmt, chunks)
            run()  # lazy imports and caches, outside the count
            gc.collect()
            eval(COUNTED, {"run": run})


def measure(python: str, formats: List[str], n: int, over_http: bool = True) -> Optional[List[Dict[str, Any]]]:
    """One row per format: instructions per event of each mode and the ratios (None where not countable).

    *over_http* adds the HTTP modes where *python* has requests.
    """
    if shutil.which("valgrind") is None or "PyPy" in subprocess.check_output([python, "-c", "import platform; print(platform.python_implementation())"], universal_newlines=True):
        return None
    counts = counted(python, ["--child", ",".join(formats), str(n)], len(formats) * len(MODES))
    over_http = over_http and subprocess.call([python, "-c", "import requests"], stderr=subprocess.DEVNULL) == 0
    if over_http:
        with BenchServer() as server:
            urls = [server.stream(fmt, n) for fmt in formats]
            http_counts = counted(python, ["--http-child", ",".join(formats), ",".join(urls)], len(formats) * len(HTTP_MODES))
    rows = []
    for number, fmt in enumerate(formats):
        events = streams.build(fmt, n, keep_events=False).count
        per = {mode: counts[number * len(MODES) + k] / events for k, mode in enumerate(MODES)}
        row = dict(per, format=fmt, events=events, decoder=per["iter_sse"] / per["split"], accumulate_x=per["accumulate"] / per["floor"],
                   polled_x=per["polled"] / per["accumulate"], updates_x=per["updates"] / per["accumulate"])  # fmt: skip
        if over_http:
            row.update((mode, http_counts[number * len(HTTP_MODES) + k] / events) for k, mode in enumerate(HTTP_MODES))
            row["updates_http_x"] = row["stream_updates"] / row["stream_text"]
        rows.append(row)
    return rows


def counted(python: str, arguments: List[str], runs: int) -> List[int]:
    """The instructions of the last *runs* counted calls of this script run with *arguments* under callgrind."""
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "cg.out")
        command = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=builtin_eval", "--dump-after=builtin_eval",
            "--callgrind-out-file=" + out, python, os.path.abspath(__file__),
        ] + arguments  # fmt: skip
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ, PYTHONHASHSEED="0"))
        if done.returncode:
            raise RuntimeError("the callgrind run failed: %s" % done.stderr[-800:])
        dumps = sorted(glob.glob(out + ".*"), key=lambda path: int(path.rsplit(".", 1)[1]))
        counts = []
        for path in dumps:
            with open(path) as dump:
                found = re.search(r"^(?:summary|totals): (\d+)", dump.read(), re.M)
            counts.append(int(found.group(1)) if found else 0)
    return counts[-runs:]  # (evals run by imports come first)


class BenchServer:
    """bench/server.py in a subprocess (not counted), serving the streams of the HTTP modes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def stream(self, fmt: str, n: int) -> str:
        """The URL of the *fmt* stream of *n* content events in large writes, framed ahead."""
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            connection.request("GET", "/prepare/%s/large/%d" % (fmt, n))
            connection.getresponse().read()
        finally:
            connection.close()
        return "http://127.0.0.1:%d/b/%s/large/%d/0/-" % (self.port, fmt, n)

    def __enter__(self) -> "BenchServer":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def table(rows: List[Dict[str, Any]]) -> str:
    lines = [
        "| stream | events | split | iter_sse | floor | accumulate | polled | updates | iter_sse ÷ split | accumulate ÷ floor"
        " | polled ÷ accumulate | updates ÷ accumulate | stream_text | stream_updates | stream_updates ÷ stream_text |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        http = ["%.0f" % r["stream_text"], "%.0f" % r["stream_updates"], "%.3f" % r["updates_http_x"]] if "stream_text" in r else ["-"] * 3
        lines.append("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.3f | %.3f | %.3f | %.3f | %s |"
                     % (r["format"], r["events"], r["split"], r["iter_sse"], r["floor"], r["accumulate"], r["polled"], r["updates"],
                        r["decoder"], r["accumulate_x"], r["polled_x"], r["updates_x"], " | ".join(http)))  # fmt: skip
    return "\n".join(lines)


def main(argv: List[str]) -> int:
    if argv[:1] == ["--child"]:
        child(argv[1].split(","), int(argv[2]))
        return 0
    if argv[:1] == ["--http-child"]:
        http_child(argv[1].split(","), argv[2].split(","))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="content events per stream (default 2000)")
    parser.add_argument("--formats", default="chat,tools,messages", help="streams (default chat,tools,messages)")
    parser.add_argument("--no-http", action="store_true", help="leave out the stream_completion modes")
    parser.add_argument("--python", default=sys.executable, help="interpreter to count (default: this one)")
    options = parser.parse_args(argv)
    rows = measure(options.python, options.formats.split(","), options.events, over_http=not options.no_http)
    if rows is None:
        print("no instruction counts: valgrind is not installed, or %s is not CPython" % options.python)
        return 0
    print("instructions per event under callgrind, %s, %d content events per stream" % (options.python, options.events))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
