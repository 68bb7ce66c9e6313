"""ssekit.relay through real WSGI servers: wsgiref (stdlib), waitress and gunicorn's threaded worker
(test-only dependencies; gunicorn runs in its own process, so the app takes everything from the query).

Each test mounts a WSGI app (:func:`proxy_app`) that opens a ``stream_completion`` to a real local
upstream (``LocalGateway``, ``SSEServer``, or a raw socket server that notes
when its client left) and returns ``ssekit.relay(...)``; the relayed stream is
read back with ssekit's own client, or as raw bytes where comments and the key
matter. No mocks.
"""
import http.client
import io
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import wsgiref.simple_server
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import parse_qsl, urlencode

import requests

import ssekit
from ssekit.testing import DEFAULT_ANSWER, LocalGateway, ScriptedResponse, SSEServer, build_events, sample_request, split_tokens

from .support import assert_back_to, open_fds

KEY = "sk-relay-upstream-key-never-downstream"
TEXT = "Relayed text, in pieces: one, two, three."
FORMATS = ("chat_completions", "responses", "messages", "generation", "cohere", "gemini")
#: The heartbeat of the disconnect test. A client that left (a FIN) is found out on the second write after it
#: through wsgiref (the first draws the RST), on the third through waitress: 2-3 heartbeats bound the delay.
HEARTBEAT = os.environ.get("SSEKIT_RELAY_HEARTBEAT", "0.02")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}
StartResponse = Callable[[str, List[Tuple[str, str]]], Any]
App = Callable[[Dict[str, Any], StartResponse], Iterable[bytes]]


# --- the WSGI servers ---------------------------------------------------------------


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    """wsgiref's handler without the access log and the tracebacks of clients that left."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def get_stderr(self) -> Any:
        return io.StringIO()


class _ThreadedWSGIServer(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    """wsgiref with a thread per request; ``server_close`` joins them (``block_on_close``)."""

    daemon_threads = False


class WsgirefServer:
    """``wsgiref.simple_server`` serving *app* on 127.0.0.1 in a background thread."""

    name = "wsgiref"

    def __init__(self, app: App) -> None:
        self._server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, server_class=_ThreadedWSGIServer,
                                                         handler_class=_QuietHandler)  # fmt: skip
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class WaitressServer:
    """waitress serving *app* on 127.0.0.1, its asyncore loop in a background thread."""

    name = "waitress"

    def __init__(self, app: App) -> None:
        import waitress.server

        self._server = waitress.server.create_server(app, host="127.0.0.1", port=0, threads=4, clear_untrusted_proxy_headers=True)
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run)
        self._thread.start()

    def close(self) -> None:
        from waitress import wasyncore

        server = self._server
        # Close every socket from inside the loop (a thunk run by its trigger): the loop then ends.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        self._thread.join(10)
        server.task_dispatcher.shutdown()


class GunicornServer:
    """gunicorn with one threaded worker (``gthread``, 4 threads) serving :func:`proxy_app`, in a child process.

    Its sync worker would hold a long stream behind a proxy; the threaded one is what SSE apps deploy.
    """

    name = "gunicorn gthread"

    def __init__(self, app: App) -> None:
        self._log = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1", "--threads", "4",
                   "--bind", "127.0.0.1:0", "--graceful-timeout", "1", "--log-level", "info", "tests.test_relay:proxy_app"]  # fmt: skip
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self._process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=self._log)
        self.port = self._listening_port()

    def _listening_port(self) -> int:
        end = time.monotonic() + 30
        while time.monotonic() < end and self._process.poll() is None:
            self._log.seek(0)
            log = self._log.read().decode("utf-8", "replace")
            if "Booting worker" in log and "Listening at: http://127.0.0.1:" in log:
                return int(log.split("Listening at: http://127.0.0.1:")[1].split()[0])
            time.sleep(0.05)
        self.close()
        raise RuntimeError("gunicorn did not start: %s" % log[-2000:])

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()


def gunicorn_missing() -> Optional[str]:
    if sys.platform == "win32":
        return "gunicorn does not run on Windows"
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return "gunicorn is not installed here (pip install gunicorn)"
    return None


def waitress_missing() -> Optional[str]:
    try:
        import waitress  # noqa: F401
    except ImportError:
        return "waitress is not installed here (pip install waitress)"
    return None


# --- an upstream that notes when its client left -----------------------------------------


class HangingUpstream:
    """A raw socket SSE server: answers each request with a head and one event, then sends nothing
    and notes (``time.monotonic()``) when the client closes the connection."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.url = "http://127.0.0.1:%d/v1/chat/completions" % self._listener.getsockname()[1]
        self.closed_at = []  # type: List[float]
        self.served = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._serve)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            with connection:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += connection.recv(65536)
                    if not head:
                        break
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
                event = build_events("chat_completions", "Hello")[1]
                connection.sendall(b"%X\r\n%s\r\n" % (len(event), event))
                while True:
                    try:
                        if not connection.recv(65536):
                            break
                    except OSError:
                        break
                self.closed_at.append(time.monotonic())
            self.served.release()

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR) if sys.platform != "darwin" else None
        self._listener.close()
        self._thread.join()


# --- the tests ---------------------------------------------------------------------------


def proxy_app(environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The backend proxy under test: ``?upstream=URL&format=F&convert=C&heartbeat=S`` choose the upstream and the relay."""
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    format = query.get("format", "chat_completions")
    upstream = ssekit.stream_completion(query["upstream"], json=sample_request(format), api_key=KEY, format=format,  # type: ignore[arg-type]
                                        retry=0, timeout=(5, 30))  # fmt: skip
    relayed = ssekit.relay(upstream, heartbeat=float(query.get("heartbeat", "5")), convert=query.get("convert") or None)  # type: ignore[arg-type]
    start_response(relayed.status, relayed.headers)
    return relayed


def read_raw(port: int, query: Dict[str, Any]) -> Tuple[int, List[Tuple[str, str]], bytes]:
    """POST to the relay with http.client: status, headers, and the whole body as it came (comments included)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/?" + urlencode(query), body=b"{}", headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


class RelayTests:
    """The relay through one WSGI server (the subclasses name it); upstreams are started per class."""

    server_class = WsgirefServer  # type: Any
    server = None  # type: Any
    gateway = None  # type: Any
    scripted = None  # type: Any
    #: format -> the upstream URL the app calls (tests point it at the upstream they need).
    upstream = {}  # type: Dict[str, str]

    @classmethod
    def setUpClass(cls) -> None:
        cls.gateway = LocalGateway(api_key=KEY, pace=0.001).start()
        cls.scripted = SSEServer().start()
        cls.server = cls.server_class(proxy_app)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()
        cls.scripted.close()
        cls.gateway.close()

    def setUp(self) -> None:
        type(self).upstream = {}
        self.fds = open_fds()
        self.threads = threading.active_count()

    def tearDown(self) -> None:
        assert_back_to(self, self.fds, self.threads)  # type: ignore[arg-type]

    def query(self, **query: Any) -> Dict[str, Any]:
        """*query* with the URL of the upstream its format reads from (a test's own, or the gateway)."""
        format = query.get("format", "chat_completions")
        query["upstream"] = self.upstream.get(format) or self.gateway.url(format)
        return query

    def url(self, **query: Any) -> str:
        return "http://127.0.0.1:%d/?%s" % (self.server.port, urlencode(self.query(**query)))

    def relayed_events(self, **query: Any) -> List[ssekit.ServerSentEvent]:
        with requests.Session() as session:
            with ssekit.connect_sse(session, "POST", self.url(**query), json={}, timeout=(5, 30)) as source:
                return list(source.iter_sse())

    def relayed_completion(self, output: str, **query: Any) -> ssekit.Completion:
        with ssekit.stream_completion(self.url(convert=output, **query), json={}, api_key="", format=output,  # type: ignore[arg-type]
                                      retry=0, timeout=(5, 30)) as stream:  # fmt: skip
            for _ in stream:
                pass
        return stream.completion

    def direct(self, format: str) -> Tuple[List[ssekit.ServerSentEvent], ssekit.Completion]:
        url = self.upstream.get(format) or self.gateway.url(format)
        with ssekit.stream_completion(url, json=sample_request(format), api_key=KEY, format=format, retry=0) as stream:  # type: ignore[arg-type]
            events = list(stream.events())
        return events, stream.completion

    # --- pass-through ------------------------------------------------------------

    def test_pass_through_gives_the_upstream_events_of_every_format(self) -> None:
        for format in FORMATS:
            with self.subTest(format=format):  # type: ignore[attr-defined]
                self.scripted.script("/" + format, ScriptedResponse.sse(build_events(format, TEXT, usage={"input_tokens": 3, "output_tokens": 9})))
                self.upstream[format] = self.scripted.url("/" + format)
                expected, _ = self.direct(format)
                self.assertEqual(self.relayed_events(format=format), expected)

    def test_headers_are_the_event_stream_ones_and_never_hop_by_hop(self) -> None:
        status, headers, body = read_raw(self.server.port, self.query(format="generation"))
        self.assertEqual(status, 200)
        names = {name.lower(): value for name, value in headers}
        self.assertEqual(names["content-type"], "text/event-stream; charset=utf-8")
        self.assertEqual((names["cache-control"], names["x-accel-buffering"]), ("no-cache", "no"))
        relay = ssekit.relay([])
        self.assertEqual(relay.status, "200 OK")
        self.assertEqual({name.lower() for name, _ in relay.headers} & (HOP_BY_HOP | {"transfer-encoding"}), set())
        self.assertTrue(body.endswith(b'"type":"generation_end"}\n\n'), body[-100:])

    def test_each_event_is_relayed_as_it_arrives(self) -> None:
        events = build_events("generation", TEXT)
        self.scripted.script("/paced", ScriptedResponse.sse(events, interval=0.15))
        self.upstream["generation"] = self.scripted.url("/paced")
        arrivals = []  # type: List[float]
        with requests.Session() as session:
            with ssekit.connect_sse(session, "POST", self.url(format="generation"), json={}, timeout=(5, 30)) as source:
                for _ in source.iter_sse():
                    arrivals.append(time.monotonic())
        self.assertEqual(len(arrivals), len(events) - 1)  # all but [DONE]: the upstream reader stops at generation_end
        gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
        # One by one, not held back and sent together (the median: a loaded machine may bunch a pair).
        self.assertGreaterEqual(statistics.median(gaps), 0.1, gaps)

    # --- conversion --------------------------------------------------------------

    def test_conversion_to_generation_frames_keeps_text_finish_and_tokens(self) -> None:
        for format in FORMATS:
            with self.subTest(format=format):  # type: ignore[attr-defined]
                _, upstream = self.direct(format)
                relayed = self.relayed_completion("generation", format=format)
                self.assertEqual((relayed.text, relayed.finish_reason), (DEFAULT_ANSWER, upstream.finish_reason))
                self.assertEqual(relayed.usage.total_tokens, upstream.usage.total_tokens)
                self.assertTrue(relayed.complete)

    def test_conversion_to_chat_chunks_keeps_text_finish_and_usage(self) -> None:
        for format in FORMATS:
            with self.subTest(format=format):  # type: ignore[attr-defined]
                _, upstream = self.direct(format)
                relayed = self.relayed_completion("chat_completions", format=format)
                self.assertEqual((relayed.text, relayed.finish_reason), (DEFAULT_ANSWER, upstream.finish_reason))
                counts = lambda usage: (usage.input_tokens, usage.output_tokens, usage.total_tokens)  # noqa: E731
                self.assertEqual(counts(relayed.usage), counts(upstream.usage))
                self.assertTrue(relayed.complete and relayed.usage.final)

    def test_chat_chunks_are_the_shape_openai_sends(self) -> None:
        events = self.relayed_events(format="messages", convert="chat_completions")
        chunks = [event.json() for event in events[:-1]]
        self.assertEqual(events[-1].data, "[DONE]")
        self.assertEqual(chunks[0]["choices"], [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        self.assertEqual({chunk["object"] for chunk in chunks}, {"chat.completion.chunk"})
        self.assertEqual(chunks[-2]["choices"], [{"index": 0, "delta": {}, "finish_reason": "stop"}])
        self.assertEqual((chunks[-1]["choices"], sorted(chunks[-1]["usage"])), ([], ["completion_tokens", "prompt_tokens", "total_tokens"]))
        self.assertEqual("".join(chunk["choices"][0]["delta"]["content"] for chunk in chunks[1:-2]), DEFAULT_ANSWER)

    # --- heartbeats ----------------------------------------------------------------

    def test_heartbeats_fill_an_upstream_silence(self) -> None:
        events = build_events("generation", TEXT)
        self.scripted.script("/stalls", ScriptedResponse.sse(events[:2] + [0.5] + events[2:]))
        self.upstream["generation"] = self.scripted.url("/stalls")
        _, _, body = read_raw(self.server.port, self.query(format="generation", heartbeat="0.05"))
        silence = body[body.index(events[1]) + len(events[1]):body.index(events[2])]
        self.assertGreaterEqual(silence.count(b": keep-alive\n\n"), 3)  # 0.5 s, one every 0.05 s (slack for a loaded machine)
        self.assertEqual(silence.replace(b": keep-alive\n\n", b""), b"")
        self.assertEqual(body.replace(b": keep-alive\n\n", b""), b"".join(events[:-1]))  # (not [DONE], see above)

    # --- failures --------------------------------------------------------------------

    def test_an_upstream_cut_mid_stream_gives_an_error_frame(self) -> None:
        tokens = split_tokens(DEFAULT_ANSWER)
        self.gateway.cut_next(after_tokens=5)
        events = self.relayed_events(format="messages")
        self.assertEqual(events[-1].event, "error")
        error = events[-1].json()["error"]
        self.assertEqual(error["type"], "upstream_error")
        self.assertIn("mid-stream", error["message"])
        accumulator = ssekit.MessagesAccumulator()
        self.assertEqual("".join(accumulator.add(event) for event in events[:-1]), "".join(tokens[:5]))

    def test_a_cut_while_converting_is_the_output_formats_error(self) -> None:
        tokens = split_tokens(DEFAULT_ANSWER)
        for output in ("generation", "chat_completions"):
            with self.subTest(output=output):  # type: ignore[attr-defined]
                self.gateway.cut_next(after_tokens=7)
                with self.assertRaises(ssekit.StreamError) as caught:
                    self.relayed_completion(output, format="responses")
                self.assertIn("mid-stream", str(caught.exception))
                self.assertEqual(caught.exception.code if output == "generation" else caught.exception.type, "upstream_error")
                self.assertEqual(caught.exception.partial.text, "".join(tokens[:7]))

    def test_a_provider_error_event_keeps_its_type(self) -> None:
        error = {"message": "the model is overloaded", "type": "overloaded_error"}
        self.scripted.script("/fails", ScriptedResponse.sse(build_events("messages", TEXT, error=error)))
        self.upstream["messages"] = self.scripted.url("/fails")
        with self.assertRaises(ssekit.StreamError) as caught:
            self.relayed_completion("chat_completions", format="messages")
        self.assertEqual((caught.exception.type, str(caught.exception)), ("overloaded_error", "the model is overloaded"))
        frame = self.relayed_events(format="messages")[-1]
        self.assertEqual((frame.event, frame.json()["error"]["type"]), ("error", "overloaded_error"))

    # --- secrets ---------------------------------------------------------------------

    def test_the_upstream_key_never_reaches_the_downstream_bytes(self) -> None:
        echoed = ["the key you sent is ", KEY, ", and again: ", KEY]  # (one event each: a key split across events is not found)
        self.scripted.script("/echo", ScriptedResponse.sse(build_events("chat_completions", tokens=echoed)))
        self.scripted.script("/echo-error", ScriptedResponse.sse(build_events("messages", TEXT, error={"message": "bad key " + KEY, "type": "authentication_error"})))
        bodies = []  # type: List[bytes]
        for convert in ("", "generation", "chat_completions"):
            for format, path in (("chat_completions", "/echo"), ("messages", "/echo-error"), ("responses", None)):
                type(self).upstream = {format: self.scripted.url(path)} if path else {}
                if path is None:
                    self.gateway.cut_next(after_tokens=3)
                bodies.append(read_raw(self.server.port, self.query(format=format, convert=convert))[2])
        self.assertEqual([KEY.encode() in body for body in bodies], [False] * len(bodies))
        self.assertIn(b"[redacted]", bodies[0])
        self.assertEqual(self.gateway.requests[-1].headers.get("Authorization"), "Bearer " + KEY)  # it did go upstream

    # --- the client leaving ---------------------------------------------------------------

    def test_the_upstream_is_closed_soon_after_the_client_leaves(self) -> None:
        upstream = HangingUpstream()
        try:
            self.upstream["chat_completions"] = upstream.url
            delays = []  # type: List[float]
            for _ in range(5):
                client = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
                target = "/?" + urlencode(self.query(format="chat_completions", heartbeat=HEARTBEAT))
                client.sendall(b"GET %s HTTP/1.1\r\nHost: relay\r\n\r\n" % target.encode())
                received = b""
                while b"data:" not in received:
                    received += client.recv(65536)
                client.settimeout(0.01)
                reading = time.monotonic() + 0.1
                while time.monotonic() < reading:  # a few heartbeats flow, and are read as a browser does
                    try:
                        client.recv(65536)
                    except socket.timeout:
                        pass
                client.close()  # the browser leaves: a FIN (nothing unread, so no RST that would speed things up)
                left = time.monotonic()
                self.assertTrue(upstream.served.acquire(timeout=5), "the upstream request was never closed")
                delays.append(upstream.closed_at[-1] - left)
        finally:
            upstream.close()
        print("\nrelay via %s, heartbeat %s s: upstream closed %.0f ms (median), %.0f ms (max) after the client left"
              % (self.server.name, HEARTBEAT, statistics.median(delays) * 1000, max(delays) * 1000), file=sys.stderr)
        self.assertLess(max(delays), 0.1)

    def test_a_relay_closed_before_iteration_cancels_without_a_thread(self) -> None:
        sent = len(self.gateway.requests)
        stream = ssekit.stream_completion(self.gateway.url("generation"), json=sample_request("generation"), api_key=KEY)
        relay = ssekit.relay(stream)
        relay.close()
        self.assertTrue(stream.cancelled)
        self.assertEqual(list(relay), [])
        self.assertEqual(len(self.gateway.requests), sent)

    def test_bad_options_are_refused_at_once(self) -> None:
        for options in ({"heartbeat": 0}, {"heartbeat": "5"}, {"heartbeat": True}, {"convert": "gemini"}):
            with self.subTest(options=options):  # type: ignore[attr-defined]
                with self.assertRaises(ssekit.InvalidRequestError):
                    ssekit.relay([], **options)


class ThroughWsgiref(RelayTests, unittest.TestCase):
    """The relay mounted in ``wsgiref.simple_server`` (HTTP/1.0, close-delimited body)."""


@unittest.skipIf(waitress_missing() is not None, str(waitress_missing()))
class ThroughWaitress(RelayTests, unittest.TestCase):
    """The relay mounted in waitress (HTTP/1.1, chunked body, its own task threads)."""

    server_class = WaitressServer


@unittest.skipIf(gunicorn_missing() is not None, str(gunicorn_missing()))
class ThroughGunicorn(RelayTests, unittest.TestCase):
    """The relay mounted in gunicorn's threaded worker (HTTP/1.1, chunked body, a worker process of its own)."""

    server_class = GunicornServer


for _missing in (waitress_missing(), gunicorn_missing()):
    if _missing is not None:
        print("tests/test_relay.py: tests skipped: %s" % _missing, file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
