"""ssekit benchmarks: ssekit side by side with the other ways to read an LLM stream in Python.

    python bench/run.py                 # full run: markdown on stdout, JSON in bench/results.json
    python bench/run.py --smoke         # seconds: every client once on tiny streams, results checked
    python bench/run.py --soak [SECONDS]  # stream_completion back to back, RSS over time
    python bench/run.py --interpreters all  # the per-interpreter rows only: CPython 3.7-3.13 (pyenv) and pypy3

A local server (bench/server.py, a subprocess on raw sockets) serves
pre-generated streams (bench/streams.py); each measured run is a fresh
``bench/clients.py`` process. CPU time is the client's own user+system time for
the streaming part, so figures are compared as ratios to the floor client
within one run (medians over repetitions, clients interleaved), never as
absolute times. A wrong result is reported as wrong and never timed. See
bench/README.md.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import instructions  # noqa: E402  (bench/ is not a package)
import streams  # noqa: E402

PARSERS = ["floor", "requests-iter_lines", "ssekit-iter_sse", "ssekit-accumulate", "ssekit-stream_completion", "ssekit-updates", "httpx-sse", "sseclient-py"]
SDKS = {"openai": ("chat", "tools", "responses"), "openai-stream": ("chat", "tools", "responses"), "anthropic-stream": ("messages",)}
CLIENT_ORDER = ["drain"] + PARSERS + list(SDKS)
SSEKIT = ["ssekit-iter_sse", "ssekit-accumulate", "ssekit-stream_completion"]
PACE_US = 2000  # the latency runs: one event every 2 ms
JOB_TIMEOUT = 900.0


class Settings:
    """Sizes of one run: the full defaults, or tiny ones for --smoke."""

    def __init__(self, smoke: bool, reps: Optional[int], events: Optional[int]) -> None:
        self.smoke = smoke
        self.reps = reps or (1 if smoke else 5)
        self.events = events or (200 if smoke else 20000)
        self.scaling = [50, 400] if smoke else [5000, 20000, 100000, 1000000]
        self.scaling_reps = 1 if smoke else 3
        self.latency_events = 20 if smoke else 500
        self.latency_reps = 1 if smoke else 3
        self.memory_bytes = 2 * 10 ** 6 if smoke else 10 ** 9
        self.polling_events = 10000 if smoke else 1000000
        self.polling_reps = 1 if smoke else 3
        self.instruction_events = 200 if smoke else 2000
        self.interpreters = "all"  # --interpreters: "all" or comma-separated interpreter paths


# --- the server and the client processes ----------------------------------------------


class BenchServer:
    """bench/server.py in a subprocess, for the duration of a ``with`` block."""

    def __init__(self, python: str) -> None:
        self.process = subprocess.Popen(
            [python, os.path.join(HERE, "server.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        line = self.process.stdout.readline()
        if not line.strip():
            self.process.kill()
            raise RuntimeError("the benchmark server did not start")
        self.port = int(line)

    def prepare(self, fmt: str, framing: str, n: int) -> None:
        """Frame a response ahead of the timed runs (the server caches it)."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            conn.request("GET", "/prepare/%s/%s/%d" % (fmt, framing, n))
            conn.getresponse().read()
        finally:
            conn.close()

    def job(self, client: str, fmt: str, framing: str, n: int, pace_us: int = 0) -> Dict[str, Any]:
        token = uuid.uuid4().hex if pace_us else ""
        path = "/b/%s/%s/%d/%d/%s" % (fmt, framing, n, pace_us, token or "-")
        return {
            "client": client,
            "format": fmt,
            "framing": framing,
            "n": n,
            "port": self.port,
            "path": path,
            "url": "http://127.0.0.1:%d%s" % (self.port, path),
            "token": token,
        }

    def __enter__(self) -> "BenchServer":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_clients(python: str, jobs: List[Dict[str, Any]]) -> Iterable[Dict[str, Any]]:
    """Run *jobs* in one fresh clients.py process; yield one report per job, as it comes."""
    process = subprocess.Popen(
        [python, os.path.join(HERE, "clients.py"), json.dumps(jobs)], stdout=subprocess.PIPE, universal_newlines=True
    )
    assert process.stdout is not None
    deadline = time.monotonic() + JOB_TIMEOUT * max(1, len(jobs))
    try:
        for job in jobs:
            line = process.stdout.readline()
            if not line:
                yield dict(job, error="the client process died (exit status %s)" % process.wait())
                return
            yield dict(job, **json.loads(line))
            if time.monotonic() > deadline:
                raise RuntimeError("the client process overran its time")
    finally:
        process.stdout.close()
        if process.poll() is None:
            process.kill()
        process.wait()


_EXPECTED = {}  # type: Dict[Tuple[str, int], Dict[str, Any]]


def check(report: Dict[str, Any]) -> Dict[str, Any]:
    """Mark the report ok / wrong / error / skipped; a report is timed only when ok."""
    if "skip" in report:
        report["status"] = "skipped"
    elif "error" in report:
        report["status"] = "error"
    elif report["client"] == "drain":
        report["status"] = "ok"
    else:
        key = (report["format"], report["n"])
        if key not in _EXPECTED:
            _EXPECTED[key] = streams.build(report["format"], report["n"], keep_events=False).expected
        report["status"] = "ok" if report["result"] == _EXPECTED[key] else "wrong"
        if report["status"] == "wrong":
            report["expected"] = _EXPECTED[key]
    return report


def measure(
    server: BenchServer, settings: Settings, python: str, cases: Sequence[Tuple[str, str, str, int]], reps: int, pace_us: int = 0,
    warm: bool = False,
) -> List[Dict[str, Any]]:
    """Run every (client, format, framing, n) case *reps* times, interleaved; return all reports.

    Full runs start one process per run, rotating the order every round;
    smoke runs put every case in one process to finish in seconds. With
    *warm*, each process runs its client once untimed before the timed run.
    """
    for fmt, framing, n in sorted({case[1:] for case in cases}):
        server.prepare(fmt, framing, n)
    reports = []  # type: List[Dict[str, Any]]
    for rep in range(reps):
        order = list(cases[rep % len(cases) :]) + list(cases[: rep % len(cases)])
        jobs = [dict(server.job(client, fmt, framing, n, pace_us), warm=warm) for client, fmt, framing, n in order]
        batches = [jobs] if settings.smoke else [[job] for job in jobs]
        for batch in batches:
            for report in run_clients(python, batch):
                report["rep"] = rep
                reports.append(check(report))
                note_failure(report)
    return reports


def note_failure(report: Dict[str, Any]) -> None:
    if report["status"] in ("wrong", "error"):
        detail = report.get("error") or "result %s, expected %s" % (report.get("result"), report.get("expected"))
        print(
            "  %s: %s on %s/%s/%d: %s" % (report["status"].upper(), report["client"], report["format"], report["framing"], report["n"], detail),
            file=sys.stderr,
        )


# --- figures ---------------------------------------------------------------------------


def events_of(fmt: str, n: int) -> int:
    """Events in stream (*fmt*, *n*): the *n* content events and the few around them."""
    return streams.build(fmt, n, keep_events=False).count


def summarize(reports: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per (client, format, framing, n): medians, CPU per event, ratio to the floor."""
    groups = {}  # type: Dict[Tuple[str, str, str, int], List[Dict[str, Any]]]
    for report in reports:
        groups.setdefault((report["client"], report["format"], report["framing"], report["n"]), []).append(report)
    floor_cpu = {}  # type: Dict[Tuple[str, str, int, int], float]
    for report in reports:
        if report["client"] == "floor" and report["status"] == "ok":
            floor_cpu[(report["format"], report["framing"], report["n"], report["rep"])] = report["cpu"]
    rows = []
    for (client, fmt, framing, n), group in groups.items():
        row = {"client": client, "format": fmt, "framing": framing, "n": n, "runs": len(group)}  # type: Dict[str, Any]
        statuses = {report["status"] for report in group}
        row["status"] = next(s for s in ("error", "wrong", "skipped", "ok") if s in statuses)
        row["detail"] = next((r.get("skip") or r.get("error") for r in group if r["status"] != "ok"), None)
        good = [report for report in group if report["status"] == "ok"]
        if good and row["status"] == "ok":
            events = events_of(fmt, n)
            cpu = statistics.median(r["cpu"] for r in good)
            wall = statistics.median(r["wall"] for r in good)
            row.update(events=events, cpu_s=cpu, wall_s=wall, cpu_us_per_event=cpu / events * 1e6, events_per_s=events / wall)
            row["peak_rss_mb"] = max(r["rss_kb"] or 0 for r in good) / 1024.0
            ratios = [
                r["cpu"] / floor_cpu[(fmt, framing, n, r["rep"])] for r in good if (fmt, framing, n, r["rep"]) in floor_cpu
            ]
            row["x_floor"] = statistics.median(ratios) if ratios else None
            runs = {r["rep"]: run_latency(r["latency_ms"]) for r in good if r.get("latency_ms")}
            if runs:
                row["latency_runs"] = runs
                row["latency_ms"] = dict(((key, statistics.median(run[key] for run in runs.values())) for key in LATENCY_FIGURES), runs=len(runs))
        rows.append(row)
    rows.sort(key=lambda row: (row["format"], row["framing"], row["n"], CLIENT_ORDER.index(row["client"])))
    return rows


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


LATENCY_FIGURES = ("first", "p50", "p99", "max")


def run_latency(latencies: List[float]) -> Dict[str, float]:
    """First event, p50, p99 and max of one run's hand-off latencies (ms)."""
    return {"first": latencies[0], "p50": percentile(latencies, 0.50), "p99": percentile(latencies, 0.99), "max": max(latencies)}


def latency_ratio(row: Dict[str, Any], reference: Optional[Dict[str, Any]], key: str) -> Optional[Tuple[float, float, float]]:
    """Median, least and greatest over the runs of *row*'s figure *key* ÷ *reference*'s in the same run."""
    if not reference or not row.get("latency_runs") or not reference.get("latency_runs"):
        return None
    mine, theirs = row["latency_runs"], reference["latency_runs"]
    ratios = [mine[rep][key] / theirs[rep][key] for rep in mine if rep in theirs and theirs[rep][key] > 0]
    return (statistics.median(ratios), min(ratios), max(ratios)) if ratios else None


# --- the sections of a run -------------------------------------------------------------


def applicable(client: str, fmt: str) -> bool:
    return client not in SDKS or fmt in SDKS[client]


def section_throughput(server: BenchServer, s: Settings, python: str) -> List[Dict[str, Any]]:
    cases = [(client, fmt, "large", s.events) for fmt in streams.FORMATS for client in CLIENT_ORDER if applicable(client, fmt)]
    return summarize(measure(server, s, python, cases, s.reps))


def section_framings(server: BenchServer, s: Settings, python: str) -> List[Dict[str, Any]]:
    clients = ["drain", "floor", "requests-iter_lines"] + SSEKIT + ["httpx-sse"]
    cases = [(client, "chat", framing, s.events) for framing in ("event", "close", "gzip") for client in clients]
    return summarize(measure(server, s, python, cases, s.reps))


def section_scaling(server: BenchServer, s: Settings, python: str) -> List[Dict[str, Any]]:
    cases = [(client, "chat", "large", n) for n in s.scaling for client in ["floor"] + SSEKIT]
    return summarize(measure(server, s, python, cases, s.scaling_reps))


def section_latency(server: BenchServer, s: Settings, python: str) -> List[Dict[str, Any]]:
    clients = PARSERS + ["openai", "openai-stream"]
    cases = [(client, "chat", framing, s.latency_events) for framing in ("event", "close", "gzip") for client in clients]
    return summarize(measure(server, s, python, cases, s.latency_reps, PACE_US))


def section_memory(server: BenchServer, s: Settings, python: str) -> List[Dict[str, Any]]:
    job = {"kind": "memory", "url": "http://127.0.0.1:%d/mem/%d" % (server.port, s.memory_bytes)}
    report = list(run_clients(python, [job]))[0]
    expected = streams.memory_events(s.memory_bytes)
    report.update(bytes=s.memory_bytes, expected_events=expected)
    report["status"] = "error" if "error" in report else ("ok" if report["events"] == expected else "wrong")
    if report["status"] != "ok":
        print("  %s: memory run: %s" % (report["status"].upper(), report.get("error") or report), file=sys.stderr)
    return [report]


INSTRUCTION_FORMATS = ["chat", "tools", "messages", "responses", "cohere", "gemini"]
SMOKE_INSTRUCTION_FORMATS = ["chat", "messages"]  # every mode and both decoder paths, in seconds


def section_instructions(server: BenchServer, s: Settings, python: str) -> List[Dict[str, Any]]:
    """bench/instructions.py: callgrind's instructions per event, decoder and accumulators against the floor."""
    return counted_instructions(python, SMOKE_INSTRUCTION_FORMATS if s.smoke else INSTRUCTION_FORMATS, s.instruction_events)


def counted_instructions(python: str, formats: List[str], n: int, over_http: bool = True) -> List[Dict[str, Any]]:
    try:
        rows = instructions.measure(python, formats, n, over_http)
    except RuntimeError as exc:
        return [{"client": "callgrind", "status": "error", "detail": str(exc)}]
    if rows is None:
        return [{"client": "callgrind", "status": "skipped", "detail": "valgrind is not installed or %s is not CPython" % python}]
    return [dict(row, client="callgrind", status="ok") for row in rows]


def section_polling(server: BenchServer, s: Settings, python: str) -> List[Dict[str, Any]]:
    """bench/polling.py: accumulation with a snapshot after every event against without, 10k to 1M events."""
    command = [python, os.path.join(HERE, "polling.py"), "--json", "--max-events", str(s.polling_events), "--repeat", str(s.polling_reps)]
    try:
        output = subprocess.check_output(command, universal_newlines=True, timeout=JOB_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        return [{"client": "polling", "status": "error", "detail": str(exc)}]
    rows = [json.loads(line) for line in output.splitlines() if line.strip()]
    return [dict(row, client="polling", status="ok", x_unpolled=row["polled_us"] / row["unpolled_us"]) for row in rows]


INTERPRETER_FORMATS = ["chat", "tools", "messages"]
INTERPRETER_CLIENTS = ["floor", "ssekit-iter_sse", "ssekit-accumulate"]
OPTIONAL_CLIENTS = [["httpx", "httpx-sse"], ["sseclient-py"]]  # installed where they install; the rest is skipped


def bench_interpreters(spec: str) -> List[Tuple[str, Optional[str], Optional[str]]]:
    """(label, interpreter to run, why not) for ``--interpreters``: "all" or comma-separated paths.

    "all" is the newest pyenv CPython of each minor version 3.7-3.13 and
    ``pypy3`` from the PATH, each in its own venv ``.venvs/bench-LABEL``
    (made on first use) holding requests and the optional clients that install.
    """
    if spec != "all":
        return [(path, path, None) for path in spec.split(",") if path]
    try:
        root = subprocess.check_output(["pyenv", "root"], universal_newlines=True).strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []  # type: List[Tuple[str, Optional[str]]]
    for minor in range(7, 14):
        folders = [f for f in glob.glob(os.path.join(root, "versions", "3.%d.*" % minor)) if re.search(r"/3\.%d\.\d+$" % minor, f)]
        newest = max(folders, key=lambda f: int(f.rsplit(".", 1)[1]), default=None)
        found.append(("py3.%d" % minor, os.path.join(newest, "bin", "python") if newest else None))
    found.append(("pypy3", shutil.which("pypy3")))
    out = []  # type: List[Tuple[str, Optional[str], Optional[str]]]
    for label, python in found:
        if python is None:
            why = "not installed (apt-get install -y pypy3)" if label == "pypy3" else "not installed in pyenv"
            out.append((label, None, why))
        else:
            out.append((label,) + bench_venv(label, python))
    return out


def bench_venv(label: str, python: str) -> Tuple[Optional[str], Optional[str]]:
    """The python of venv ``.venvs/bench-LABEL`` made from *python* with requests in it, or None and why not."""
    venv = os.path.join(os.path.dirname(HERE), ".venvs", "bench-" + label)
    venv_python = os.path.join(venv, "bin", "python")
    if subprocess.call([venv_python, "-c", "import requests"], stderr=subprocess.DEVNULL) if os.path.exists(venv_python) else True:
        print("%s: making %s (requests and the optional clients)" % (label, venv), file=sys.stderr, flush=True)
        pip = [venv_python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        if _quiet([python, "-m", "venv", venv]) or _quiet(pip + ["requests", "typing-extensions"]):
            return None, "could not make a venv holding requests in %s" % venv
        for packages in OPTIONAL_CLIENTS:
            _quiet(pip + packages)
    return venv_python, None


def _quiet(command: List[str]) -> int:
    """Run *command* with its output discarded; its exit status."""
    return subprocess.call(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def section_interpreters(server: BenchServer, s: Settings, python: str) -> List[Dict[str, Any]]:
    """The core rows on every interpreter: floor, iter_sse and accumulate on three streams; callgrind on CPython."""
    out = []  # type: List[Dict[str, Any]]
    for label, interpreter, why_not in bench_interpreters(s.interpreters):
        if interpreter is None:
            out.append({"client": label, "interpreter": label, "status": "skipped", "detail": why_not})
            continue
        env = environment(interpreter)
        name = "%s %s" % (env["implementation"], env["python"])
        print("  %s (%s)" % (name, interpreter), file=sys.stderr, flush=True)
        cases = [(client, fmt, "large", s.events) for fmt in INTERPRETER_FORMATS for client in INTERPRETER_CLIENTS]
        rows = summarize(measure(server, s, interpreter, cases, s.reps))
        countable = env["implementation"] == "CPython" and not s.smoke  # (smoke: the instructions section covers the code)
        counted = counted_instructions(interpreter, INTERPRETER_FORMATS, s.instruction_events, over_http=False) if countable else []
        statuses = {row["status"] for row in rows + counted}
        status = next(x for x in ("error", "wrong", "ok", "skipped") if x in statuses)
        out.append({"client": label, "interpreter": name, "implementation": env["implementation"], "status": status,
                    "rows": rows, "instructions": [row for row in counted if row["status"] == "ok"]})  # fmt: skip
        if env["implementation"] == "PyPy":  # a JIT: also its steady state, after one untimed stream in the same process
            rows = summarize(measure(server, s, interpreter, cases, s.reps, warm=True))
            status = next(x for x in ("error", "wrong", "ok", "skipped") if x in {row["status"] for row in rows})
            out.append({"client": label, "interpreter": name + " warm", "implementation": "PyPy", "status": status, "rows": rows})
    return out


SECTIONS = {
    "throughput": section_throughput,
    "framings": section_framings,
    "scaling": section_scaling,
    "latency": section_latency,
    "memory": section_memory,
    "instructions": section_instructions,
    "polling": section_polling,
    "interpreters": section_interpreters,
}


# --- the report --------------------------------------------------------------------------


def _fmt(value: Optional[float], pattern: str) -> str:
    return "-" if value is None else pattern % value


def _status(row: Dict[str, Any]) -> str:
    if row["status"] == "ok":
        return "ok"
    return "%s: %s" % (row["status"], (row.get("detail") or "").replace("|", "/")[:80])


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def throughput_table(rows: List[Dict[str, Any]], fmt: str) -> str:
    return table(
        ["client", "result", "events/s", "CPU µs/event", "× floor CPU", "peak RSS MB"],
        (
            [
                r["client"],
                _status(r),
                _fmt(r.get("events_per_s"), "%.0f"),
                _fmt(r.get("cpu_us_per_event"), "%.2f"),
                _fmt(r.get("x_floor"), "%.3f"),
                _fmt(r.get("peak_rss_mb"), "%.1f"),
            ]
            for r in rows
            if r["format"] == fmt
        ),
    )


def framings_table(rows: List[Dict[str, Any]]) -> str:
    framings = ["large", "event", "close", "gzip"]
    by = {(r["client"], r["framing"]): r for r in rows if r["format"] == "chat"}
    clients = [c for c in CLIENT_ORDER if any((c, f) in by for f in framings[1:])]
    cells = []
    for client in clients:
        line = [client]
        for framing in framings:
            r = by.get((client, framing))
            if r is None or r["status"] != "ok":
                line.append("-" if r is None else r["status"])
            else:
                line.append("%.2f µs (%s×)" % (r["cpu_us_per_event"], _fmt(r.get("x_floor"), "%.2f")))
        cells.append(line)
    ceiling = ["server ceiling (drain, events/s)"]
    for framing in framings:
        r = by.get(("drain", framing))
        ceiling.append(_fmt(r.get("events_per_s") if r else None, "%.0f"))
    return table(["client (CPU per event, × floor)"] + framings, cells + [ceiling])


def scaling_growth(rows: List[Dict[str, Any]], client: str) -> Optional[float]:
    """CPU per event on the largest stream over that on the smallest (None if either is missing).

    Fixed per-request costs make small streams dearer per event; what must
    not happen is the cost per event growing with the length of the stream.
    """
    costs = sorted((r["n"], r.get("cpu_us_per_event")) for r in rows if r["client"] == client)
    if len(costs) < 2 or costs[0][1] is None or costs[-1][1] is None:
        return None
    return costs[-1][1] / costs[0][1]


def scaling_table(rows: List[Dict[str, Any]]) -> str:
    sizes = sorted({r["n"] for r in rows})
    cells = []
    for client in [c for c in CLIENT_ORDER if any(r["client"] == c for r in rows)]:
        per = {r["n"]: r for r in rows if r["client"] == client}
        line = [client] + [_fmt(per[n].get("cpu_us_per_event") if n in per else None, "%.2f") for n in sizes]
        cells.append(line + [_fmt(scaling_growth(rows, client), "%.2f")])
    headers = ["%s events" % format(n, ",") for n in sizes] + ["largest ÷ smallest"]
    return table(["client (CPU µs/event)"] + headers, cells)


def latency_table(rows: List[Dict[str, Any]]) -> str:
    cells = []
    for r in rows:
        lat = r.get("latency_ms")
        line = [r["client"], r["framing"], _status(r)]
        line += [_fmt(lat and lat[key], "%.3f") for key in ("first", "p50", "p99", "max")]
        cells.append(line)
    return table(["client", "framing", "result", "first ms", "p50 ms", "p99 ms", "max ms"], cells)


LATENCY_REFERENCES = ("requests-iter_lines", "httpx-sse")


def _spread(ratio: Optional[Tuple[float, float, float]]) -> str:
    return "-" if ratio is None else "%.2f× (%.2f–%.2f)" % ratio


def latency_ratio_table(rows: List[Dict[str, Any]]) -> str:
    """ssekit's p99 and first-event latency ÷ each reference client's, run by run (median, least–greatest)."""
    cells = []
    for framing in ("event", "close", "gzip"):
        for client in SSEKIT:
            row = find(rows, client, "chat", framing)
            if row is None:
                continue
            line = [client, framing]
            for key in ("p99", "first"):
                line += [_spread(latency_ratio(row, find(rows, ref, "chat", framing), key)) for ref in LATENCY_REFERENCES]
            cells.append(line)
    headers = ["client", "framing"] + ["%s ÷ %s" % (key, ref) for key in ("p99", "first") for ref in LATENCY_REFERENCES]
    return table(headers, cells)


def polling_table(rows: List[Dict[str, Any]]) -> str:
    cells = [
        [r["stream"], format(r["events"], ","), "%.2f" % r["unpolled_us"], "%.2f" % r["polled_us"], "%.2f×" % r["x_unpolled"]] for r in rows
    ]
    return table(["stream", "events", "unpolled CPU µs/event", "polled CPU µs/event", "polled ÷ unpolled"], cells)


def interpreters_table(entries: List[Dict[str, Any]]) -> str:
    columns = [(client, fmt) for client in ("ssekit-iter_sse", "ssekit-accumulate") for fmt in INTERPRETER_FORMATS]
    cells = []
    for entry in entries:
        if entry["status"] == "skipped" or "rows" not in entry:
            cells.append([entry["interpreter"], "%s: %s" % (entry["status"], entry.get("detail"))] + [""] * (len(columns) + 2))
            continue
        line = [entry["interpreter"]]
        for client, fmt in columns:
            row = find(entry["rows"], client, fmt)
            line.append("-" if row is None else _fmt(row.get("x_floor"), "%.3f") if row["status"] == "ok" else row["status"])
        counted = {row["format"]: row for row in entry.get("instructions") or ()}
        line.append(" / ".join("%.2f" % counted[fmt]["decoder"] for fmt in ("chat", "messages") if fmt in counted) or "-")
        line.append("%.2f" % counted["tools"]["accumulate_x"] if "tools" in counted else "-")
        cells.append(line)
    headers = ["interpreter"] + ["%s %s" % (client.replace("ssekit-", ""), fmt) for client, fmt in columns]
    headers += ["decoder instr. chat / messages", "accumulate instr. tools"]
    return table(headers, cells)


def find(rows: List[Dict[str, Any]], client: str, fmt: str = "chat", framing: str = "large") -> Optional[Dict[str, Any]]:
    return next((r for r in rows if (r["client"], r["format"], r["framing"]) == (client, fmt, framing)), None)


def ratio_target(rows: List[Dict[str, Any]], client: str, fmt: str, bar: float, where: str = "") -> Tuple[str, str, Optional[bool]]:
    row = find(rows, client, fmt)
    ratio = row.get("x_floor") if row else None
    what = "%s%s on the %s stream ≤ %.2f× floor CPU" % (where, client, fmt, bar)
    return what, _fmt(ratio, "%.3f×"), None if ratio is None else ratio <= bar


#: (client, stream, bar): CPU ÷ the floor's, in the throughput section and for every interpreter.
THROUGHPUT_TARGETS = [
    ("ssekit-accumulate", "chat", 1.15),
    ("ssekit-accumulate", "tools", 1.0),
    ("ssekit-accumulate", "messages", 1.2),
    ("ssekit-accumulate", "cohere", 1.0),
    ("ssekit-accumulate", "gemini", 1.0),
    ("ssekit-iter_sse", "chat", 1.05),
    ("ssekit-iter_sse", "messages", 1.05),
]
UPDATES_BAR = 1.1  # stream_completion(...).updates() ÷ iterating its text, on the text streams
PYPY_ACCUMULATE_BAR = 1.2  # PyPy: every stream's accumulation
DECODER_INSTRUCTIONS_BAR = 1.2  # callgrind: iter_sse ÷ the floor's split
TOOLS_INSTRUCTIONS_BAR = 1.0  # callgrind: the tool-call stream's accumulation ÷ the floor's, on every CPython
POLLED_BAR = 1.2  # .completion after every event ÷ unpolled, at the largest stream
LATENCY_BAR = 1.0  # ssekit's p99 and first event ÷ httpx-sse's


def targets(results: Dict[str, List[Dict[str, Any]]]) -> List[Tuple[str, str, Optional[bool]]]:
    """Each target of the issues: (what, measured, met) — met is None when not measured in this run."""
    out = [ratio_target(results.get("throughput", []), client, fmt, bar) for client, fmt, bar in THROUGHPUT_TARGETS]
    throughput = results.get("throughput", [])
    for fmt in ("chat", "messages"):
        updates, text = find(throughput, "ssekit-updates", fmt), find(throughput, "ssekit-stream_completion", fmt)
        ratio = updates["x_floor"] / text["x_floor"] if updates and text and updates.get("x_floor") and text.get("x_floor") else None
        what = "typed updates on the %s stream ≤ %.2f× iterating the text (both stream_completion)" % (fmt, UPDATES_BAR)
        out.append((what, _fmt(ratio, "%.3f×"), None if ratio is None else ratio <= UPDATES_BAR))
    scaling = results.get("scaling", [])
    for client in SSEKIT:
        growth = scaling_growth(scaling, client)
        out.append(("%s cost per event flat: largest ÷ smallest stream ≤ 1.25" % client, _fmt(growth, "%.2f"), None if growth is None else growth <= 1.25))
    latency = results.get("latency", [])
    for framing in ("event", "close", "gzip"):
        worst = None  # type: Optional[float]
        for client in SSEKIT:
            row = find(latency, client, "chat", framing)
            for key in ("p99", "first"):
                ratio = latency_ratio(row, find(latency, "httpx-sse", "chat", framing), key) if row else None
                if ratio is not None:
                    worst = max(worst or 0.0, ratio[0])
        what = "ssekit p99 and first-event latency ≤ %.2f× httpx-sse's (median of the runs), %s framing" % (LATENCY_BAR, framing)
        out.append((what, _fmt(worst, "%.2f×"), None if worst is None else worst <= LATENCY_BAR))
    memory = results.get("memory")
    if memory and memory[0].get("rss_kb"):
        mb = memory[0]["rss_kb"] / 1024.0
        out.append(("decoding %.0f MB without accumulating: peak RSS < 50 MB" % (memory[0]["bytes"] / 1e6), "%.1f MB" % mb, mb < 50))
    for row in results.get("instructions", []):
        if row["status"] == "ok":
            what = "decoder instructions (callgrind), %s stream: iter_sse ≤ %.2f× the floor's split" % (row["format"], DECODER_INSTRUCTIONS_BAR)
            out.append((what, "%.3f×" % row["decoder"], row["decoder"] <= DECODER_INSTRUCTIONS_BAR))
            if "updates_http_x" in row:
                what = "typed updates (callgrind), %s stream over loopback: stream_completion updates() ≤ %.2f× iterating its text" % (row["format"], UPDATES_BAR)
                out.append((what, "%.3f×" % row["updates_http_x"], row["updates_http_x"] <= UPDATES_BAR))
    polling = [row for row in results.get("polling", []) if row["status"] == "ok"]
    for stream in sorted({row["stream"] for row in polling}):
        largest = max((row for row in polling if row["stream"] == stream), key=lambda row: row["events"])
        what = ".completion read after every event, %s, %s events: polled ≤ %.2f× unpolled" % (stream, format(largest["events"], ","), POLLED_BAR)
        out.append((what, "%.2f×" % largest["x_unpolled"], largest["x_unpolled"] <= POLLED_BAR))
    for row in results.get("interpreters", []):
        if row["status"] != "ok":
            continue
        where = "%s: " % row["interpreter"]
        rows = row["rows"]
        if row["implementation"] == "PyPy":
            out += [ratio_target(rows, "ssekit-accumulate", fmt, PYPY_ACCUMULATE_BAR, where) for fmt in INTERPRETER_FORMATS]
        else:
            out += [ratio_target(rows, client, fmt, bar, where) for client, fmt, bar in THROUGHPUT_TARGETS if fmt in INTERPRETER_FORMATS]
        for counted in row.get("instructions") or ():
            what = "%sdecoder instructions, %s stream ≤ %.2f× the floor's split" % (where, counted["format"], DECODER_INSTRUCTIONS_BAR)
            out.append((what, "%.3f×" % counted["decoder"], counted["decoder"] <= DECODER_INSTRUCTIONS_BAR))
            if counted["format"] == "tools":
                what = "%saccumulation instructions, tools stream ≤ %.2f× the floor's" % (where, TOOLS_INSTRUCTIONS_BAR)
                out.append((what, "%.3f×" % counted["accumulate_x"], counted["accumulate_x"] <= TOOLS_INSTRUCTIONS_BAR))
    return out


def checkout_version() -> str:
    """The ssekit the clients import: this checkout's version and commit."""
    root = os.path.dirname(HERE)
    with open(os.path.join(root, "ssekit", "__init__.py")) as init:
        version = next((line.split("=")[1].strip().strip("\"'") for line in init if line.startswith("__version__")), "?")
    try:
        commit = subprocess.check_output(["git", "-C", root, "describe", "--always", "--dirty"], universal_newlines=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "no git"
    return "%s (checkout %s)" % (version, commit)


def environment(python: str) -> Dict[str, Any]:
    """Machine, interpreter and package versions, as seen by the client processes."""
    code = (
        "import json, platform, sys\n"
        "def version(name):\n"
        "    try:\n"
        "        from importlib.metadata import version as v\n"
        "        return v(name)\n"
        "    except Exception:\n"
        "        return None\n"
        "names = ['requests', 'urllib3', 'httpx', 'httpx-sse', 'sseclient-py', 'openai', 'anthropic']\n"
        "print(json.dumps({'python': sys.version.split()[0], 'implementation': platform.python_implementation(),"
        " 'packages': {n: version(n) for n in names}}))\n"
    )
    info = json.loads(subprocess.check_output([python, "-c", code], universal_newlines=True))
    info["packages"] = dict([("ssekit", checkout_version())] + list(info["packages"].items()))
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info.update(
        date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        machine="%s, %s, %s cores" % (platform.platform(), cpu, os.cpu_count()),
        load_average=", ".join("%.2f" % load for load in os.getloadavg()) if hasattr(os, "getloadavg") else None,
        command="python bench/run.py " + " ".join(sys.argv[1:]),
    )
    return info


def mean_event_bytes(fmt: str) -> float:
    stream = streams.build(fmt, 2000)
    return len(stream.body) / len(stream.events)


def render(env: Dict[str, Any], settings: Settings, results: Dict[str, List[Dict[str, Any]]]) -> str:
    packages = ", ".join("%s %s" % (name, version) for name, version in env["packages"].items() if version)
    out = [
        "# ssekit benchmark%s" % (" (smoke run: tiny streams, figures meaningless)" if settings.smoke else ""),
        "",
        "- date: %s; command: `%s`" % (env["date"], env["command"]),
        "- machine: %s; load average at start: %s" % (env["machine"], env["load_average"]),
        "- Python %s (%s); %s" % (env["python"], env["implementation"], packages),
        "- %d repetitions per figure (medians), each run in a fresh process; × floor is the median of the"
        " per-repetition ratios to the floor client's CPU time in the same run" % settings.reps,
    ]
    through = results.get("throughput")
    if through:
        sizes = {fmt: mean_event_bytes(fmt) for fmt in streams.FORMATS}
        for fmt, title in [
            ("chat", "OpenAI chat stream"),
            ("tools", "parallel tool-call stream (OpenAI chat)"),
            ("messages", "Anthropic Messages stream"),
            ("responses", "OpenAI Responses stream"),
            ("cohere", "Cohere v2 chat stream"),
            ("gemini", "Google Gemini stream"),
        ]:
            out += ["", "## %s: %s events (≈%.0f B each), large writes" % (title, format(settings.events, ","), sizes[fmt]), ""]
            out.append(throughput_table(through, fmt))
    if results.get("framings") or through:
        rows = (through or []) + (results.get("framings") or [])
        out += ["", "## Framings: the chat stream, CPU per event and × floor", "", framings_table(rows)]
    if results.get("scaling"):
        out += ["", "## Scaling: the chat stream, large writes", "", scaling_table(results["scaling"])]
    if results.get("latency"):
        out += [
            "",
            "## Latency: one chat event every %d ms, server write → client hand-off (%d events per run, median of %d runs)"
            % (PACE_US // 1000, settings.latency_events, settings.latency_reps),
            "",
            latency_table(results["latency"]),
        ]
    if results.get("latency"):
        out += [
            "",
            "## Latency as ratios: ssekit's p99 and first event ÷ the reference client's in the same run (median of the runs, least–greatest)",
            "",
            latency_ratio_table(results["latency"]),
        ]
    counted = [row for row in results.get("instructions", []) if row["status"] == "ok"]
    if counted:
        out += [
            "",
            "## Instructions per event (callgrind, %s content events per stream, 64 KiB chunks, in memory)" % format(settings.instruction_events, ","),
            "",
            instructions.table(counted),
        ]
    polled = [row for row in results.get("polling", []) if row["status"] == "ok"]
    if polled:
        out += ["", "## `.completion` read after every event: polled against unpolled accumulation (bench/polling.py)", "", polling_table(polled)]
    if results.get("interpreters"):
        out += [
            "",
            "## Every interpreter: CPU × floor (median of %d repetitions, %s content events, large writes); decoder instructions ÷ the floor's split"
            % (settings.reps, format(settings.events, ",")),
            "",
            interpreters_table(results["interpreters"]),
        ]
    if results.get("memory"):
        m = results["memory"][0]
        out += [
            "",
            "## Memory: decoding %.0f MB of chat events with ssekit iter_sse, nothing kept" % (m["bytes"] / 1e6),
            "",
            "%s: %s events (expected %s), peak RSS %s MB"
            % (m["status"], format(m.get("events", 0), ","), format(m["expected_events"], ","), _fmt(m.get("rss_kb") and m["rss_kb"] / 1024.0, "%.1f")),
        ]
    goals = [] if settings.smoke else targets(results)
    if goals:
        met = {True: "yes", False: "**no**", None: "not measured"}
        out += ["", "## Targets", "", table(["target", "measured", "met"], ([what, value, met[ok]] for what, value, ok in goals))]
    return "\n".join(out) + "\n"


# --- soak ------------------------------------------------------------------------------------


def soak(python: str, seconds: float, json_path: Optional[str]) -> int:
    """Stream completions back to back for *seconds*; print RSS, fds and threads over time."""
    interval = max(1.0, seconds / 20.0)
    samples = []  # type: List[Dict[str, Any]]
    print("# ssekit soak: stream_completion back to back for %.0f s (chat, 2,000 events, one write per event)\n" % seconds)
    print("| t (s) | streams | RSS MB | fds | threads |\n|---|---|---|---|---|")
    with BenchServer(python) as server:
        job = server.job("ssekit-stream_completion", "chat", "event", 2000)
        server.prepare("chat", "event", 2000)
        job.update(kind="soak", seconds=seconds, interval=interval)
        process = subprocess.Popen(
            [python, os.path.join(HERE, "clients.py"), json.dumps([job])], stdout=subprocess.PIPE, universal_newlines=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            sample = json.loads(line)
            if "error" in sample:
                print("ERROR: %s" % sample["error"])
                process.wait()
                return 1
            samples.append(sample)
            print("| %s | %d | %.1f | %s | %s |" % (sample["t"], sample["streams"], sample["rss_kb"] / 1024.0, sample["fds"], sample["threads"]), flush=True)
        status = process.wait()
    if status or len(samples) < 2:
        print("the soak process failed (exit status %s)" % status)
        return 1
    settled = next(s for s in samples if s["t"] >= seconds * 0.1)
    growth = (samples[-1]["rss_kb"] - settled["rss_kb"]) / 1024.0
    flat = growth <= 1.0
    print(
        "\n%d streams; RSS %.1f MB at %.0f s, %.1f MB at the end: %+.2f MB (%s); fds %s -> %s; threads %s -> %s"
        % (
            samples[-1]["streams"],
            settled["rss_kb"] / 1024.0,
            settled["t"],
            samples[-1]["rss_kb"] / 1024.0,
            growth,
            "flat" if flat else "GROWING",
            samples[0]["fds"],
            samples[-1]["fds"],
            samples[0]["threads"],
            samples[-1]["threads"],
        )
    )
    if json_path:
        with open(json_path, "w") as out:
            json.dump({"soak_seconds": seconds, "samples": samples, "rss_growth_mb": growth, "flat": flat}, out, indent=1)
    return 0


# --- main ------------------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run on tiny streams: checks results, never timings")
    parser.add_argument("--soak", nargs="?", type=float, const=600.0, metavar="SECONDS", help="soak run (default 600 s)")
    parser.add_argument("--json", metavar="PATH", help="where to write the JSON (default bench/results.json; smoke: none)")
    parser.add_argument("--only", metavar="SECTIONS", help="comma-separated subset of: " + ", ".join(SECTIONS))
    parser.add_argument("--reps", type=int, help="repetitions per figure (default 5)")
    parser.add_argument("--events", type=int, help="content events per throughput stream (default 20000)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the server and clients (default: this one)")
    parser.add_argument(
        "--interpreters", metavar="all|PATHS",
        help='the per-interpreter rows: "all" (pyenv CPython 3.7-3.13 and pypy3, venvs made in .venvs/) or comma-separated '
        "interpreters that have requests; alone, runs only that section (a full run includes it with \"all\", --smoke leaves it out)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.soak is not None:
        return soak(args.python, args.soak, args.json)
    settings = Settings(args.smoke, args.reps, args.events)
    settings.interpreters = args.interpreters or settings.interpreters
    if args.only:
        names = args.only.split(",")
    elif args.interpreters:
        names = ["interpreters"]
    else:  # a smoke run makes no venvs: CI passes its own with --interpreters
        names = [name for name in SECTIONS if not (args.smoke and name == "interpreters")]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        parser.error("unknown section(s): %s" % ", ".join(unknown))
    env = environment(args.python)
    results = {}  # type: Dict[str, List[Dict[str, Any]]]
    started = time.monotonic()
    with BenchServer(args.python) as server:
        for name in names:
            begun = time.monotonic()
            results[name] = SECTIONS[name](server, settings, args.python)
            print("%s: %.1f s" % (name, time.monotonic() - begun), file=sys.stderr, flush=True)
    sys.stdout.write(render(env, settings, results))
    if settings.smoke:  # the soak's code path too, for a second
        print()
        if soak(args.python, 1.0, None):
            results["soak"] = [{"client": "ssekit-stream_completion", "status": "error"}]
    failures = [r for rows in results.values() for r in rows if r["status"] in ("wrong", "error")]
    skipped = sorted({"%s (%s)" % (r["client"], r.get("detail") or r.get("skip")) for rows in results.values() for r in rows if r["status"] == "skipped"})
    for line in skipped:
        print("skipped: " + line)
    print("%d figures, %d wrong or crashed, %.0f s" % (sum(map(len, results.values())), len(failures), time.monotonic() - started))
    json_path = args.json or (None if args.smoke else os.path.join(HERE, "results.json"))
    if json_path:
        with open(json_path, "w") as out:
            json.dump({"environment": env, "settings": vars(settings), "results": results, "targets": targets(results)}, out, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
