"""connect_sse against a real local server: framings, prompt delivery, errors, release."""
import email.utils
import gzip
import time
import unittest
import zlib
from typing import List, Sequence

import requests

from ssekit import (
    APIStatusError,
    ContentTypeError,
    IncompleteStreamError,
    ServerSentEvent,
    SSEKitError,
    StreamTimeoutError,
    connect_sse,
)
from ssekit.errors import InvalidRequestError, StreamConnectionError
from ssekit.http import error_message, parse_retry_after
from ssekit.testing.server import ScriptedResponse, SSEServer
from tests.support import REFCOUNT_REASON, cpython_only

FIRST = b'data: {"n": 1}\n\n'
SECOND = b"event: done\ndata: 2\n\n"
PAUSE = 0.8  # seconds the server waits between the two events


class ServerTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer()
        self.server.start()
        self.addCleanup(self.server.close)
        self.session = requests.Session()
        self.addCleanup(self.session.close)


class PromptDelivery(ServerTestCase):
    """Each event must reach the caller when its blank line arrives, not a read later."""

    def check_framing(self, **options: object) -> None:
        self.server.script("/s", ScriptedResponse.sse([FIRST, PAUSE, SECOND], **options))
        start = time.monotonic()
        arrivals = []
        with connect_sse(self.session, "GET", self.server.url("/s"), timeout=5) as source:
            for sse in source.iter_sse():
                arrivals.append((time.monotonic() - start, sse))
        self.assertEqual([sse for _, sse in arrivals], [ServerSentEvent(data='{"n": 1}'), ServerSentEvent("done", "2")])
        self.assertLess(arrivals[0][0], PAUSE / 2, "first event waited for the second write")
        self.assertGreaterEqual(arrivals[1][0], PAUSE * 0.9)

    def test_chunked(self) -> None:
        self.check_framing(framing="chunked")

    def test_close_delimited(self) -> None:
        self.check_framing(framing="close")

    def test_content_length(self) -> None:
        self.check_framing(framing="length")

    def test_gzip_chunked(self) -> None:
        self.check_framing(framing="chunked", gzip=True)

    def test_gzip_close_delimited(self) -> None:
        self.check_framing(framing="close", gzip=True)

    def test_event_split_across_writes(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([b"da", b"ta: \xc3", b"\xa9\r", b"\n\r\n"]))
        with connect_sse(self.session, "GET", self.server.url("/s")) as source:
            self.assertEqual(list(source.iter_sse()), [ServerSentEvent(data="\u00e9")])


class RequestShape(ServerTestCase):
    def test_accept_header_and_kwargs_are_sent(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([FIRST]))
        with connect_sse(self.session, "POST", self.server.url("/s"), json={"stream": True}, headers={"X-A": "1"}) as source:
            self.assertEqual(len(list(source.iter_sse())), 1)
            self.assertEqual(source.response.status_code, 200)
        request = self.server.requests[0]
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.headers["accept"], "text/event-stream")
        self.assertEqual(request.headers["X-A"], "1")
        self.assertEqual(request.json(), {"stream": True})

    def test_caller_accept_header_wins(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([FIRST]))
        with connect_sse(self.session, "GET", self.server.url("/s"), headers={"accept": "*/*"}) as source:
            list(source.iter_sse())
        self.assertEqual(self.server.requests[0].headers["Accept"], "*/*")


class StatusErrors(ServerTestCase):
    def open(self) -> APIStatusError:
        with self.assertRaises(APIStatusError) as caught:
            with connect_sse(self.session, "POST", self.server.url("/s?key=SECRET")):
                self.fail("the body of the with block must not run")
        self.assertNotIn("SECRET", str(caught.exception))
        return caught.exception

    def test_json_error_body(self) -> None:
        body = {"error": {"message": "Rate limit reached", "type": "requests"}}
        self.server.script("/s", ScriptedResponse.json(body, status=429, retry_after=7))
        error = self.open()
        self.assertEqual(error.status_code, 429)
        self.assertEqual(error.body, body)
        self.assertEqual(error.retry_after, 7.0)
        self.assertIn("Rate limit reached", error.message)
        self.assertIn("429", str(error))
        self.assertEqual(error.headers["Retry-After"], "7")

    def test_html_error_body(self) -> None:
        html = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad</h1></body></html>"
        self.server.script("/s", ScriptedResponse.text(html, status=502))
        error = self.open()
        self.assertEqual(error.status_code, 502)
        self.assertEqual(error.body, html)
        self.assertIn("502 Bad Gateway", error.message)
        self.assertIsNone(error.retry_after)

    def test_retry_after_as_http_date(self) -> None:
        when = email.utils.formatdate(time.time() + 30, usegmt=True)
        self.server.script("/s", ScriptedResponse.json({"detail": "busy"}, status=503, retry_after=when))
        error = self.open()
        self.assertIn("busy", error.message)
        self.assertTrue(25 <= error.retry_after <= 31, error.retry_after)

    def test_non_sse_success_raises_content_type_error(self) -> None:
        self.server.script("/s", ScriptedResponse.json({"object": "chat.completion"}))
        with self.assertRaises(ContentTypeError) as caught:
            with connect_sse(self.session, "GET", self.server.url("/s")):
                self.fail("the body of the with block must not run")
        self.assertIn("application/json", str(caught.exception))
        self.assertIn("chat.completion", caught.exception.body_preview)


class MessageShapes(unittest.TestCase):
    def test_usual_error_shapes(self) -> None:
        self.assertEqual(error_message({"error": {"message": "a"}}), "a")
        self.assertEqual(error_message({"type": "error", "error": {"type": "overloaded_error", "message": "b"}}), "b")
        self.assertEqual(error_message({"message": "c"}), "c")
        self.assertEqual(error_message({"detail": "d"}), "d")
        self.assertEqual(error_message({"detail": [{"msg": "e"}]}), "{'msg': 'e'}")
        self.assertEqual(error_message({"error": "f"}), "f")
        self.assertIsNone(error_message({"other": 1}))

    def test_retry_after_values(self) -> None:
        self.assertEqual(parse_retry_after("12"), 12.0)
        self.assertEqual(parse_retry_after("1.5"), 1.5)
        self.assertEqual(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0.0)
        self.assertIsNone(parse_retry_after("soon"))
        self.assertIsNone(parse_retry_after(None))


class Failures(ServerTestCase):
    def test_connection_refused(self) -> None:
        port = self.server.url("/").split(":")[2].split("/")[0]
        self.server.close()
        with self.assertRaises(StreamConnectionError) as caught:
            with connect_sse(self.session, "GET", "http://127.0.0.1:%s/s?api_key=SECRET" % port):
                pass
        self.assertNotIn("SECRET", str(caught.exception))
        self.assertIsNone(caught.exception.__cause__)
        self.assertIn("refused", str(caught.exception))

    def test_malformed_url_is_a_request_error(self) -> None:
        for url in ("127.0.0.1/no-scheme?key=SECRET", "http://?key=SECRET"):
            with self.assertRaises(InvalidRequestError) as caught:
                with connect_sse(self.session, "GET", url):
                    pass
            self.assertIsInstance(caught.exception, ValueError)
            self.assertNotIn("SECRET", str(caught.exception))

    def test_read_timeout_mid_stream(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([FIRST], stall=True))
        received = []
        with self.assertRaises(StreamTimeoutError):
            with connect_sse(self.session, "GET", self.server.url("/s"), timeout=(5, 0.3)) as source:
                for sse in source.iter_sse():
                    received.append(sse)
        self.assertEqual(len(received), 1)

    def test_cut_mid_chunked_stream(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([FIRST, SECOND], cut_after=len(FIRST) + 5))
        received = []
        with self.assertRaises(IncompleteStreamError) as caught:
            with connect_sse(self.session, "GET", self.server.url("/s")) as source:
                for sse in source.iter_sse():
                    received.append(sse)
        self.assertIsInstance(caught.exception, SSEKitError)
        self.assertEqual(len(received), 1)


def chunked(*payloads: bytes, trailer: bytes = b"") -> bytes:
    """A chunked body by hand, with a chunk extension on the first chunk."""
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(p), b";ext=1" if i == 0 else b"", p) for i, p in enumerate(payloads))
    return body + b"0\r\n" + trailer + b"\r\n"


class ChunkedFraming(ServerTestCase):
    """ssekit undoes HTTP chunking itself for uncompressed bodies: every framing detail counts."""

    def read(
        self, body: bytes, received: List[str], cuts: Sequence[int] = (), encoding: str = "identity", pause: float = 0.005
    ) -> None:
        """Serve *body* as raw chunked bytes, written in pieces cut at *cuts* *pause* seconds apart; collect event data."""
        parts = [body[a:b] for a, b in zip([0] + list(cuts), list(cuts) + [len(body)])]
        paced = [item for part in parts for item in (part, pause)]
        headers = {"Transfer-Encoding": "chunked", "Content-Type": "text/event-stream", "Content-Encoding": encoding}
        self.server.script("/c", ScriptedResponse.sse(paced, framing="close", headers=headers))
        with connect_sse(self.session, "GET", self.server.url("/c"), timeout=5) as source:
            for sse in source.iter_sse():
                received.append(sse.data)

    def test_extensions_trailers_and_any_split(self) -> None:
        body = chunked(b"data: a\n\n", b"data: b\n", b"\n", trailer=b"X-Checksum: 1\r\n")
        for cuts in ([], [1], [2, 9, 15, 17, 18, 25], list(range(1, len(body)))):
            with self.subTest(cuts=cuts):
                received = []  # type: List[str]
                self.read(body, received, cuts)
                self.assertEqual(received, ["a", "b"])

    def test_a_large_chunk_across_many_reads(self) -> None:
        data = "x" * (1 << 20)
        received = []  # type: List[str]
        self.read(chunked(b"data: " + data.encode() + b"\n\n"), received, range(1000, 1 << 20, 70000))
        self.assertEqual(received, [data])

    def test_gzip_members_split_anywhere_and_trailing_garbage(self) -> None:
        compressed = gzip.compress(b"data: a\n\n") + gzip.compress(b"data: b\n\n") + b"\0\0garbage"
        body = chunked(compressed[:13], compressed[13:40], compressed[40:])
        for cuts in ([], list(range(1, len(body)))):
            with self.subTest(cuts=len(cuts)):
                received = []  # type: List[str]
                self.read(body, received, cuts, encoding="gzip")
                self.assertEqual(received, ["a", "b"])

    def test_invalid_gzip_keeps_the_events_before_it(self) -> None:
        deflater = zlib.compressobj(wbits=31)
        first = deflater.compress(b"data: a\n\n") + deflater.flush(zlib.Z_SYNC_FLUSH)
        body = chunked(first, b"\xff" * 40)
        first_chunk = len(chunked(first)) - len(chunked())  # written alone, so it is read alone
        received = []  # type: List[str]
        with self.assertRaises(IncompleteStreamError):
            self.read(body, received, [first_chunk], encoding="gzip", pause=0.3)  # (read apart even on a loaded machine)
        self.assertEqual(received, ["a"])

    def test_bad_framing_keeps_the_events_before_it(self) -> None:
        first = b"9\r\ndata: a\n\n\r\n"
        for bad in (b"zz\r\n", b"-5\r\n", b"9" * 2000, b"9\r\ndata:"):  # the last: cut mid-chunk
            with self.subTest(bad=bad[:8]):
                received = []  # type: List[str]
                with self.assertRaises(IncompleteStreamError):
                    self.read(first + bad, received)
                self.assertEqual(received, ["a"])


class Release(ServerTestCase):
    @cpython_only(REFCOUNT_REASON)
    def test_break_releases_a_never_ending_stream(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([FIRST], stall=True))
        start = time.monotonic()
        with connect_sse(self.session, "GET", self.server.url("/s"), timeout=5) as source:
            for _ in source.iter_sse():
                break
            self.assertTrue(source.response.raw.closed)  # already in the block: the loop's generator is gone
        self.assertLess(time.monotonic() - start, 2)

    def test_break_then_leaving_the_block_releases_a_never_ending_stream(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([FIRST], stall=True))
        start = time.monotonic()
        with connect_sse(self.session, "GET", self.server.url("/s"), timeout=5) as source:
            for _ in source.iter_sse():
                break
        self.assertTrue(source.response.raw.closed)
        self.assertLess(time.monotonic() - start, 2)

    def test_leaving_the_block_releases_the_connection(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([FIRST], stall=True))
        with connect_sse(self.session, "GET", self.server.url("/s"), timeout=5) as source:
            response = source.response
        self.assertTrue(response.raw.closed)

    def test_connection_is_reused_after_a_full_read(self) -> None:
        self.server.script("/s", ScriptedResponse.sse([FIRST, SECOND], framing="chunked"))
        for _ in range(3):
            with connect_sse(self.session, "GET", self.server.url("/s")) as source:
                self.assertEqual(len(list(source.iter_sse())), 2)
        self.assertEqual(self.server.connection_count, 1)


if __name__ == "__main__":
    unittest.main()
