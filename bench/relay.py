"""The WSGI relay's cost: added latency per event, and how soon the upstream closes after the client leaves.

    python bench/relay.py [--events N] [--interval SECONDS] [--heartbeat SECONDS]

An upstream in this process sends paced ``generation`` frames, each stamped
with ``time.monotonic()`` as it is written; a client in this process reads
them with ``stream_completion``, directly and through ``ssekit.relay`` mounted
in wsgiref, waitress and gunicorn's threaded worker (those installed), in the
same run. Latency is arrival minus stamp; the relay's added latency is its
median (and p99) minus the direct read's. Then a client reads one event
through each server and leaves; the time until the upstream sees its request
closed is the disconnect time (bounded by the heartbeat).
"""
import argparse
import http.server
import json
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wsgiref.simple_server
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import parse_qsl, urlencode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ssekit  # noqa: E402

StartResponse = Callable[[str, List[Tuple[str, str]]], Any]


def app(environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The relay under test: ``?upstream=URL&heartbeat=S``, passed through."""
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    upstream = ssekit.stream_completion(query["upstream"], json={}, format="generation", retry=0, timeout=(5, 30))
    relayed = ssekit.relay(upstream, heartbeat=float(query.get("heartbeat", "15")))
    start_response(relayed.status, relayed.headers)
    return relayed


# --- the upstream ------------------------------------------------------------------------


class Upstream(http.server.BaseHTTPRequestHandler):
    """``/stream?events=N&interval=S``: stamped frames; ``/hang``: one frame, then silence until the client leaves."""

    protocol_version = "HTTP/1.0"  # close-delimited: the body ends when the connection does
    closed_at = []  # type: List[float]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        options = dict(parse_qsl(query))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.frame({"type": "generation_start", "id": "gen_bench"})
        if path == "/hang":
            self.connection.settimeout(None)
            while self.connection.recv(65536):
                pass
            Upstream.closed_at.append(time.monotonic())
            return
        interval = float(options.get("interval", "0.005"))
        for _ in range(int(options.get("events", "100"))):
            time.sleep(interval)
            self.frame({"type": "content_delta", "delta": "x", "t": time.monotonic()})
        self.frame({"type": "generation_end", "tokens_used": 1})
        self.wfile.write(b"data: [DONE]\n\n")

    def frame(self, payload: Dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()


class ThreadedHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class QuietWSGIServer(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    daemon_threads = True


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def get_stderr(self) -> Any:
        return open(os.devnull, "w")


def serve_in_thread(target: Callable[[], Any]) -> None:
    threading.Thread(target=target, daemon=True).start()


# --- the relay's servers --------------------------------------------------------------------


def wsgiref_server() -> Tuple[int, Callable[[], None]]:
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, server_class=QuietWSGIServer, handler_class=QuietHandler)
    serve_in_thread(server.serve_forever)
    return server.server_port, server.shutdown


def waitress_server() -> Tuple[int, Callable[[], None]]:
    import waitress.server

    server = waitress.server.create_server(app, host="127.0.0.1", port=0, threads=8)
    serve_in_thread(server.run)
    return int(server.effective_port), server.close


def gunicorn_server() -> Tuple[int, Callable[[], None]]:
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1", "--threads", "8",
         "--bind", "127.0.0.1:0", "--log-level", "info", "--graceful-timeout", "1",
         "--chdir", os.path.dirname(os.path.abspath(__file__)), "relay:app"],
        stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    end = time.monotonic() + 30
    while time.monotonic() < end:
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
        if "Booting worker" in text and "Listening at: http://127.0.0.1:" in text:
            port = int(text.split("Listening at: http://127.0.0.1:")[1].split()[0])

            def stop() -> None:
                process.terminate()
                process.wait(15)
                log.close()

            return port, stop
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("gunicorn did not start")


SERVERS = (("wsgiref", wsgiref_server, None), ("waitress", waitress_server, "waitress"), ("gunicorn gthread", gunicorn_server, "gunicorn"))


def missing(module: Optional[str]) -> Optional[str]:
    if module is None:
        return None
    try:
        __import__(module)
    except ImportError:
        return "%s is not installed (pip install %s)" % (module, module)
    return None


# --- measuring --------------------------------------------------------------------------------


def latencies(url: str) -> List[float]:
    """Arrival minus stamp of every content frame read from *url*, in seconds."""
    found = []  # type: List[float]
    with ssekit.stream_completion(url, json={}, format="generation", retry=0, timeout=(5, 30)) as stream:
        for event in stream.events():
            arrived = time.monotonic()
            payload = json.loads(event.data) if event.data.startswith("{") else {}
            if "t" in payload:
                found.append(arrived - payload["t"])
    return found


def p99(values: List[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


def disconnect_delay(port: int, upstream: str, heartbeat: float) -> float:
    """Seconds from the client closing its socket (after one event) to the upstream seeing its request closed."""
    before = len(Upstream.closed_at)
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    target = "/?" + urlencode({"upstream": upstream + "/hang", "heartbeat": heartbeat})
    client.sendall(b"GET %s HTTP/1.1\r\nHost: relay\r\n\r\n" % target.encode())
    received = b""
    while b"data:" not in received:
        received += client.recv(65536)
    client.close()
    left = time.monotonic()
    end = left + 10
    while len(Upstream.closed_at) == before and time.monotonic() < end:
        time.sleep(0.001)
    return Upstream.closed_at[-1] - left if len(Upstream.closed_at) > before else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400, help="content frames per stream (default 400)")
    parser.add_argument("--interval", type=float, default=0.005, help="seconds between frames (default 0.005)")
    parser.add_argument("--heartbeat", type=float, default=0.02, help="relay heartbeat of the disconnect test (default 0.02)")
    parser.add_argument("--disconnects", type=int, default=5, help="disconnects measured per server (default 5)")
    args = parser.parse_args()
    upstream_server = ThreadedHTTPServer(("127.0.0.1", 0), Upstream)
    serve_in_thread(upstream_server.serve_forever)
    upstream = "http://127.0.0.1:%d" % upstream_server.server_port
    stream_url = "%s/stream?%s" % (upstream, urlencode({"events": args.events, "interval": args.interval}))
    direct = latencies(stream_url)
    rows = [("direct (no relay)", statistics.median(direct), p99(direct), None, None, None)]
    for name, start, module in SERVERS:
        reason = missing(module)
        if reason:
            print("%s: skipped: %s" % (name, reason), file=sys.stderr)
            continue
        port, stop = start()
        try:
            relayed = latencies("http://127.0.0.1:%d/?%s" % (port, urlencode({"upstream": stream_url})))
            delays = [disconnect_delay(port, upstream, args.heartbeat) for _ in range(args.disconnects)]
        finally:
            stop()
        median, tail = statistics.median(relayed), p99(relayed)
        rows.append((name, median, tail, median - rows[0][1], tail - rows[0][2], statistics.median(delays)))
    print("%d frames %.1f ms apart; disconnect with a %.0f ms heartbeat, median of %d\n"
          % (args.events, args.interval * 1000, args.heartbeat * 1000, args.disconnects))  # fmt: skip
    print("| path | latency median | p99 | added median | added p99 | disconnect -> upstream closed |")
    print("|---|---|---|---|---|---|")
    for name, median, tail, added, added_tail, delay in rows:
        extra = ("%.3f ms | %.3f ms | %.0f ms" % (added * 1000, added_tail * 1000, delay * 1000)) if added is not None else "- | - | -"
        print("| %s | %.3f ms | %.3f ms | %s |" % (name, median * 1000, tail * 1000, extra))
    upstream_server.shutdown()


if __name__ == "__main__":
    main()
