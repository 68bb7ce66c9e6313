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
- ``accumulate``: ``iter_sse`` into the format's accumulator, then ``finish()``.

Printed: instructions per event and the ratios ``iter_sse / split`` (the
decoder) and ``accumulate / floor``. Counts do not depend on the machine's
load, so small streams (2,000 events: seconds) suffice. ssekit's
standard-library layers are imported without its ``__init__`` (and so
without requests), which keeps the process short. CPython only: without
valgrind, or on PyPy (a JIT), there are no figures.
"""
import argparse
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

MODES = ("split", "iter_sse", "floor", "accumulate")
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
        else:
            accumulator = accumulator_class()
            add, append = accumulator.add, kept.append
            for event in ssekit.sse.iter_sse(chunks):
                delta = add(event)
                if delta:
                    append(delta)
            accumulator.finish()

    return run


def child(formats: List[str], n: int) -> None:
    """Run every mode on every stream: a warm-up call, then the counted one inside ``eval``."""
    _import_stdlib_layers()
    for fmt in formats:
        body = streams.build(fmt, n).body
        chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
        for mode in MODES:
            run = work(mode, fmt, chunks)
            run()  # lazy imports and caches, outside the count
            eval(COUNTED, {"run": run})


def measure(python: str, formats: List[str], n: int) -> Optional[List[Dict[str, Any]]]:
    """One row per format: instructions per event of each mode and the ratios (None where not countable)."""
    if shutil.which("valgrind") is None or "PyPy" in subprocess.check_output([python, "-c", "import platform; print(platform.python_implementation())"], universal_newlines=True):
        return None
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "cg.out")
        command = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=builtin_eval", "--dump-after=builtin_eval",
            "--callgrind-out-file=" + out, python, os.path.abspath(__file__), "--child", ",".join(formats), str(n),
        ]  # fmt: skip
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ, PYTHONHASHSEED="0"))
        if done.returncode:
            raise RuntimeError("the callgrind run failed: %s" % done.stderr[-800:])
        dumps = sorted(glob.glob(out + ".*"), key=lambda path: int(path.rsplit(".", 1)[1]))
        counts = []
        for path in dumps:
            with open(path) as dump:
                found = re.search(r"^(?:summary|totals): (\d+)", dump.read(), re.M)
            counts.append(int(found.group(1)) if found else 0)
    counts = counts[-len(formats) * len(MODES) :]  # (evals run by imports come first)
    rows = []
    for number, fmt in enumerate(formats):
        events = streams.build(fmt, n, keep_events=False).count
        per = {mode: counts[number * len(MODES) + k] / events for k, mode in enumerate(MODES)}
        rows.append(dict(per, format=fmt, events=events, decoder=per["iter_sse"] / per["split"], accumulate_x=per["accumulate"] / per["floor"]))
    return rows


def table(rows: List[Dict[str, Any]]) -> str:
    lines = [
        "| stream | events | split | iter_sse | floor | accumulate | iter_sse ÷ split | accumulate ÷ floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.3f | %.3f |"
                     % (r["format"], r["events"], r["split"], r["iter_sse"], r["floor"], r["accumulate"], r["decoder"], r["accumulate_x"]))  # fmt: skip
    return "\n".join(lines)


def main(argv: List[str]) -> int:
    if argv[:1] == ["--child"]:
        child(argv[1].split(","), int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="content events per stream (default 2000)")
    parser.add_argument("--formats", default="chat,tools,messages", help="streams (default chat,tools,messages)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to count (default: this one)")
    options = parser.parse_args(argv)
    rows = measure(options.python, options.formats.split(","), options.events)
    if rows is None:
        print("no instruction counts: valgrind is not installed, or %s is not CPython" % options.python)
        return 0
    print("instructions per event under callgrind, %s, %d content events per stream" % (options.python, options.events))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
