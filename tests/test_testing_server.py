"""The local SSE server: exact bytes per framing, gzip, faults, routing, recording, clean close.

The clients here are raw sockets and http.client, never ssekit's own HTTP layer,
so these tests check the server on its own.
"""
import contextlib
import gzip
import http.client
import io
import json
import os
import select
import socket
import threading
import time
import unittest
import zlib
from typing import Any, List, Tuple

from ssekit.errors import SSEKitError
from ssekit.testing.server import RecordedRequest, ScriptedResponse, SSEServer

ONE = b'data: {"n": 1}\n\n'
TWO = b"event: done\ndata: 2\n\n"
CONNECTION_THREAD = "ssekit-sse-connection"


def connection_threads() -> List[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == CONNECTION_THREAD]


def wait_until(condition: Any, timeout: float = 2.0) -> bool:
    """Poll *condition* until it is true or *timeout* passes; return its last value."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(condition())


class RawClient:
    """A bare socket speaking HTTP/1.1 by hand, to see the exact bytes on the wire."""

    def __init__(self, server: SSEServer) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def request(self, path: str, method: str = "GET") -> Tuple[bytes, http.client.HTTPMessage]:
        """Send a bodiless request and read the response head: (status line, headers)."""
        self.sock.sendall(b"%s %s HTTP/1.1\r\nHost: test\r\n\r\n" % (method.encode(), path.encode()))
        status_line = self.file.readline()
        return status_line, http.client.parse_headers(self.file)

    def read_chunk(self) -> bytes:
        """Read one HTTP chunk's payload; b"" for the 0-chunk (with the empty trailer's CRLF)."""
        size = int(self.file.readline(), 16)
        payload = self.file.read(size)
        assert self.file.read(2) == b"\r\n", "chunk not followed by CRLF"
        return payload

    def silent_for(self, seconds: float) -> bool:
        """True if no byte (and no EOF) arrives within *seconds*."""
        return not select.select([self.sock], [], [], seconds)[0]


class ServerTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)

    def raw_client(self) -> RawClient:
        client = RawClient(self.server)
        self.addCleanup(client.close)
        return client

    def http_client(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        self.addCleanup(connection.close)
        return connection


class Framing(ServerTestCase):
    def test_chunked_sends_one_http_chunk_per_item_and_keeps_the_connection(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE, 0.01, TWO]))
        client = self.raw_client()
        for _ in range(2):
            status_line, headers = client.request("/s")
            self.assertEqual(status_line, b"HTTP/1.1 200 OK\r\n")
            self.assertEqual(headers["transfer-encoding"], "chunked")
            self.assertEqual(headers["Content-Type"], "text/event-stream")
            self.assertEqual([client.read_chunk() for _ in range(3)], [ONE, TWO, b""])
        self.assertEqual(self.server.connection_count, 1)

    def test_length_framing_declares_the_exact_size(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE, TWO], framing="length"))
        connection = self.http_client()
        for _ in range(2):
            connection.request("GET", "/s")
            response = connection.getresponse()
            self.assertEqual(response.getheader("Content-Length"), str(len(ONE + TWO)))
            self.assertIsNone(response.getheader("Transfer-Encoding"))
            self.assertEqual(response.read(), ONE + TWO)
        self.assertEqual(self.server.connection_count, 1)

    def test_close_framing_is_http_1_0_ended_by_the_server(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE, TWO], framing="close"))
        client = self.raw_client()
        status_line, headers = client.request("/s")
        self.assertEqual(status_line, b"HTTP/1.0 200 OK\r\n")
        self.assertEqual(headers["Connection"], "close")
        self.assertIsNone(headers["Content-Length"])
        self.assertIsNone(headers["Transfer-Encoding"])
        self.assertEqual(client.file.read(), ONE + TWO)  # read() returns at EOF

    def test_gzip_chunks_decode_as_they_arrive(self) -> None:
        chunks = [ONE, b"data: \xc3\xa9t\xc3\xa9\n\n", TWO]
        self.server.script("/s", ScriptedResponse.sse(chunks, gzip=True))
        client = self.raw_client()
        _, headers = client.request("/s")
        self.assertEqual(headers["Content-Encoding"], "gzip")
        decoder = zlib.decompressobj(wbits=31)
        for chunk in chunks:
            self.assertEqual(decoder.decompress(client.read_chunk()), chunk)
        self.assertEqual(decoder.decompress(client.read_chunk()), b"")  # the gzip trailer
        self.assertTrue(decoder.eof)
        self.assertEqual(client.read_chunk(), b"")

    def test_gzip_with_length_framing(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE, TWO], gzip=True, framing="length"))
        connection = self.http_client()
        connection.request("GET", "/s")
        response = connection.getresponse()
        body = response.read()
        self.assertEqual(int(response.getheader("Content-Length")), len(body))
        self.assertEqual(gzip.decompress(body), ONE + TWO)

    def test_text_chunks_are_sent_as_utf8(self) -> None:
        self.server.script("/s", ScriptedResponse.sse(["data: é\n\n"]))
        client = self.raw_client()
        client.request("/s")
        self.assertEqual(client.read_chunk(), "data: é\n\n".encode("utf-8"))

    def test_each_chunk_is_sent_at_once_not_buffered(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE, 30.0, TWO]))
        client = self.raw_client()
        start = time.monotonic()
        client.request("/s")
        self.assertEqual(client.read_chunk(), ONE)
        self.assertLess(time.monotonic() - start, 1.0)

    def test_interval_paces_the_chunks(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE, TWO], interval=0.3))
        client = self.raw_client()
        client.request("/s")
        client.read_chunk()
        first = time.monotonic()
        client.read_chunk()
        self.assertGreater(time.monotonic() - first, 0.25)


class Faults(ServerTestCase):
    def test_cut_after_in_the_middle_of_an_http_chunk(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([b"abcdef", b"ghij"], cut_after=8))
        client = self.raw_client()
        client.request("/s")
        self.assertEqual(client.file.read(), b"6\r\nabcdef\r\n4\r\ngh")

    def test_cut_after_the_whole_body_omits_the_terminator(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([b"abc"], cut_after=3))
        client = self.raw_client()
        client.request("/s")
        self.assertEqual(client.file.read(), b"3\r\nabc\r\n")

    def test_cut_after_zero_sends_only_the_head(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE], cut_after=0))
        client = self.raw_client()
        status_line, _ = client.request("/s")
        self.assertEqual(status_line, b"HTTP/1.1 200 OK\r\n")
        self.assertEqual(client.file.read(), b"")

    def test_cut_after_in_the_middle_of_a_character(self) -> None:
        body = "data: é\n\n".encode("utf-8")
        self.server.script("/s", ScriptedResponse.sse([body], framing="length", cut_after=7))
        connection = self.http_client()
        connection.request("GET", "/s")
        response = connection.getresponse()
        self.assertEqual(response.getheader("Content-Length"), str(len(body)))
        with self.assertRaises(http.client.IncompleteRead) as caught:
            response.read()
        self.assertEqual(caught.exception.partial, b"data: \xc3")

    def test_lying_content_length_then_close(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE], framing="length", content_length=1000))
        connection = self.http_client()
        connection.request("GET", "/s")
        response = connection.getresponse()
        self.assertEqual(response.getheader("Content-Length"), "1000")
        with self.assertRaises(http.client.IncompleteRead) as caught:
            response.read()
        self.assertEqual(caught.exception.partial, ONE)

    def test_stall_holds_the_connection_until_close(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE], stall=True))
        client = self.raw_client()
        client.request("/s")
        self.assertEqual(client.read_chunk(), ONE)
        self.assertTrue(client.silent_for(0.2))
        start = time.monotonic()
        self.server.close()
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual(client.file.read(), b"")  # closed, and no terminating 0-chunk
        self.assertEqual(connection_threads(), [])

    def test_stalled_handler_ends_when_the_client_leaves(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE], stall=True, gzip=True))
        client = RawClient(self.server)
        client.request("/s")
        self.assertEqual(zlib.decompressobj(wbits=31).decompress(client.read_chunk()), ONE)
        self.assertEqual(len(connection_threads()), 1)
        client.close()
        self.assertTrue(wait_until(lambda: not connection_threads()))

    def test_close_interrupts_a_sleeping_response(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE, 60.0, TWO]))
        client = self.raw_client()
        client.request("/s")
        client.read_chunk()
        start = time.monotonic()
        self.server.close()
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual(client.file.read(), b"")

    def test_close_interrupts_a_write_the_client_does_not_read(self) -> None:
        block = b"data: " + b"x" * (1 << 20) + b"\n\n"
        self.server.script("/s", ScriptedResponse.sse([block] * 64))
        client = self.raw_client()
        client.request("/s")
        time.sleep(0.1)  # the server fills the socket buffers and blocks in sendall
        start = time.monotonic()
        self.server.close()
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual(connection_threads(), [])

    def test_a_vanishing_client_prints_nothing(self) -> None:
        block = b"data: " + b"x" * (1 << 20) + b"\n\n"
        self.server.script("/s", ScriptedResponse.sse([block] * 64))
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            client = RawClient(self.server)
            client.request("/s")
            client.read_chunk()
            client.close()
            self.assertTrue(wait_until(lambda: not connection_threads()))
        self.assertEqual(stderr.getvalue(), "")


class Routing(ServerTestCase):
    def test_queue_pops_responses_and_repeats_the_last(self) -> None:
        self.server.script(
            "/s",
            ScriptedResponse.json({"error": {"message": "slow down"}}, status=429, retry_after=0),
            ScriptedResponse.sse([ONE]),
        )
        connection = self.http_client()
        answers = []
        for method in ("POST", "POST", "GET"):
            connection.request(method, "/s", body=b"{}")
            response = connection.getresponse()
            answers.append((response.status, response.getheader("Retry-After"), response.read()))
        self.assertEqual(
            answers,
            [(429, "0", b'{"error": {"message": "slow down"}}'), (200, None, ONE), (200, None, ONE)],
        )
        self.assertEqual(self.server.connection_count, 1)  # reused after length and chunked bodies

    def test_json_answer_headers(self) -> None:
        date = "Wed, 21 Oct 2015 07:28:00 GMT"
        self.server.script("/s", ScriptedResponse.json({"a": 1}, status=503, retry_after=date, headers={"X-Id": "r1"}))
        connection = self.http_client()
        connection.request("GET", "/s")
        response = connection.getresponse()
        self.assertEqual(response.status, 503)
        self.assertEqual(response.getheader("Content-Type"), "application/json")
        self.assertEqual(response.getheader("Retry-After"), date)
        self.assertEqual(response.getheader("X-Id"), "r1")
        self.assertEqual(json.loads(response.read()), {"a": 1})

    def test_text_answer(self) -> None:
        self.server.script("/s", ScriptedResponse.text("<h1>Bad gateway</h1>", status=502))
        connection = self.http_client()
        connection.request("GET", "/s")
        response = connection.getresponse()
        self.assertEqual((response.status, response.getheader("Content-Type")), (502, "text/html; charset=utf-8"))
        self.assertEqual(response.read(), b"<h1>Bad gateway</h1>")

    def test_status_without_body(self) -> None:
        self.server.script("/s", ScriptedResponse(status=204))
        client = self.raw_client()
        for _ in range(2):  # nothing stray after the head: the connection stays usable
            status_line, headers = client.request("/s")
            self.assertEqual(status_line, b"HTTP/1.1 204 No Content\r\n")
            self.assertIsNone(headers["Transfer-Encoding"])

    def test_script_again_replaces_the_queue(self) -> None:
        self.server.script("/s", ScriptedResponse.json({"old": True}))
        self.server.script("/s", ScriptedResponse.json({"new": True}))
        connection = self.http_client()
        connection.request("GET", "/s")
        self.assertEqual(json.loads(connection.getresponse().read()), {"new": True})

    def test_dynamic_route_answers_from_the_request(self) -> None:
        def echo(request: RecordedRequest) -> ScriptedResponse:
            words = request.json()["words"]
            return ScriptedResponse.sse([("data: %s\n\n" % word).encode() for word in words])

        self.server.route("/echo", echo)
        connection = self.http_client()
        connection.request("POST", "/echo", body=json.dumps({"words": ["a", "b"]}))
        self.assertEqual(connection.getresponse().read(), b"data: a\n\ndata: b\n\n")

    def test_placeholders_in_a_path_match_any_text_but_a_slash(self) -> None:
        self.server.route("/models/{model}:run", lambda request: ScriptedResponse.json(request.params))
        self.server.script("/models/fixed:run", ScriptedResponse.json({"exact": True}))
        connection = self.http_client()
        answers = []
        for path in ("/models/gemini-2.5:run?alt=sse", "/models/fixed:run", "/models/a/b:run", "/models/:run", "/models/x:run2"):
            connection.request("POST", path, body=b"{}")
            response = connection.getresponse()
            answers.append((response.status, json.loads(response.read()).get("model", response.status)))
        self.assertEqual(answers, [(200, "gemini-2.5"), (200, 200), (404, 404), (404, 404), (404, 404)])
        self.assertEqual([request.params for request in self.server.requests[:2]], [{"model": "gemini-2.5"}, {}])

    def test_failing_route_function_gives_500_and_is_recorded(self) -> None:
        def broken(request: RecordedRequest) -> ScriptedResponse:
            raise KeyError("model")

        self.server.route("/broken", broken)
        connection = self.http_client()
        connection.request("GET", "/broken")
        response = connection.getresponse()
        self.assertEqual(response.status, 500)
        self.assertIn("KeyError", json.loads(response.read())["error"]["message"])
        self.assertEqual([type(error) for error in self.server.route_errors], [KeyError])

    def test_unknown_path_is_a_json_404(self) -> None:
        connection = self.http_client()
        connection.request("DELETE", "/nowhere?x=1")
        response = connection.getresponse()
        self.assertEqual((response.status, response.getheader("Content-Type")), (404, "application/json"))
        self.assertEqual(json.loads(response.read())["error"]["message"], "no route for DELETE /nowhere")
        self.assertEqual(self.server.requests[0].path, "/nowhere")


class Recording(ServerTestCase):
    def test_request_is_recorded_in_full(self) -> None:
        self.server.script("/v1/chat", ScriptedResponse.sse([ONE]))
        connection = self.http_client()
        payload = {"model": "m", "stream": True}
        connection.request("POST", "/v1/chat?a=1&b=2", body=json.dumps(payload), headers={"X-Trace": "t-1"})
        connection.getresponse().read()
        (request,) = self.server.requests
        self.assertEqual((request.method, request.path, request.query), ("POST", "/v1/chat", "a=1&b=2"))
        self.assertEqual(request.headers["x-trace"], "t-1")
        self.assertEqual(request.headers.get("X-TRACE"), "t-1")
        self.assertEqual(request.json(), payload)
        self.assertEqual(request.body, json.dumps(payload).encode())

    def test_chunked_request_body_is_read_fully(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE]))
        connection = self.http_client()
        connection.request("POST", "/s", body=iter([b'{"a":', b" 1}"]), encode_chunked=True)
        self.assertEqual(connection.getresponse().read(), ONE)
        connection.request("GET", "/s")  # the same connection goes on cleanly
        self.assertEqual(connection.getresponse().read(), ONE)
        self.assertEqual([request.json() for request in self.server.requests], [{"a": 1}, None])
        self.assertEqual(self.server.connection_count, 1)

    def test_malformed_body_framing_gets_400(self) -> None:
        client = self.raw_client()
        client.sock.sendall(b"POST /s HTTP/1.1\r\nHost: test\r\nContent-Length: ten\r\n\r\n")
        self.assertTrue(client.file.readline().startswith(b"HTTP/1.1 400 "))
        self.assertEqual(self.server.requests, [])

    def test_json_is_none_for_a_non_json_body(self) -> None:
        request = RecordedRequest("POST", "/", "", http.client.HTTPMessage(), b"not json")
        self.assertIsNone(request.json())
        deep = RecordedRequest("POST", "/", "", http.client.HTTPMessage(), b"[" * 100000 + b"]" * 100000)
        self.assertIsNone(deep.json())  # (json.loads raises RecursionError there)

    def test_repr_shows_no_headers(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([ONE]))
        connection = self.http_client()
        connection.request("GET", "/s", headers={"Authorization": "Bearer SECRET"})
        connection.getresponse().read()
        self.assertNotIn("SECRET", repr(self.server.requests))


class Lifecycle(unittest.TestCase):
    def test_close_leaves_no_thread_socket_or_listener(self) -> None:
        fd_dir = "/proc/self/fd"
        fds_before = len(os.listdir(fd_dir)) if os.path.isdir(fd_dir) else None
        threads_before = set(threading.enumerate())
        with SSEServer() as server:
            server.script("/s", ScriptedResponse.sse([ONE], stall=True))
            port = server.port
            clients = [RawClient(server) for _ in range(3)]
            for client in clients:
                client.request("/s")
            self.assertEqual(server.connection_count, 3)
        for client in clients:
            client.close()
        self.assertEqual(set(threading.enumerate()), threads_before)
        if fds_before is not None:
            self.assertEqual(len(os.listdir(fd_dir)), fds_before)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()

    def test_url_and_start_close_rules(self) -> None:
        server = SSEServer()
        with self.assertRaises(SSEKitError):
            server.url()
        server.start()
        self.addCleanup(server.close)
        self.assertEqual(server.url("v1/chat"), "http://127.0.0.1:%d/v1/chat" % server.port)
        self.assertEqual(server.url(), "http://127.0.0.1:%d/" % server.port)
        with self.assertRaises(SSEKitError):
            server.start()
        server.close()
        server.close()  # twice is fine

    def test_bad_scripts_are_refused(self) -> None:
        bad = [
            {"framing": "lines"},
            {"chunks": [{"data": 1}]},
            {"chunks": [-1.0]},
            {"cut_after": 1, "stall": True},
            {"content_length": 3},
            {"status": 204, "chunks": [ONE]},
        ]
        for options in bad:
            with self.subTest(options=options), self.assertRaises(SSEKitError):
                ScriptedResponse(**options)
        with self.assertRaises(SSEKitError):
            SSEServer().script("/s")


if __name__ == "__main__":
    unittest.main()
