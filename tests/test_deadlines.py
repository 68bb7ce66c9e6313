"""The deadline bounds everything from the first byte sent to the last byte read; a cancel reaches every wait.

Against the real local server: dripped heads, bodies read whole (error,
JSON, HTML preview), compressed bodies that inflate to nothing, a dripped
chunked trailer; cancels while connecting and while waiting for the head.
"""
import socket
import threading
import time
import unittest
import zlib
from typing import Any, List, Tuple

from ssekit import SSEKitError, StreamTimeoutError, stream_completion
from ssekit.completion import Completion
from ssekit.testing.builders import chat_completions_events
from ssekit.testing.server import ScriptedResponse, SSEServer
from tests.support import assert_back_to, open_fds

CHAT = chat_completions_events("Hello there, world")
DEADLINE = 1.0
#: Generous: the deadline plus what a loaded machine may add.
SLACK = 1.5
JSON_TYPE = {"Content-Type": "application/json"}


class DeadlineTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)
        self.url = self.server.url("/v1/chat/completions")

    def timed_failure(self, response: ScriptedResponse, **options: Any) -> Tuple[SSEKitError, float]:
        """Stream from a server scripted with *response*; the error and the seconds it took."""
        self.server.script("/v1/chat/completions", response)
        options.setdefault("timeout", (2, 2))
        options.setdefault("deadline", DEADLINE)
        start = time.monotonic()
        with self.assertRaises(SSEKitError) as caught:
            with stream_completion(self.url, json={}, retry=0, **options) as stream:
                list(stream)
        return caught.exception, time.monotonic() - start

    def assert_deadline_holds(self, response: ScriptedResponse) -> None:
        error, elapsed = self.timed_failure(response)
        self.assertIsInstance(error, StreamTimeoutError, error)
        self.assertIsInstance(error.partial, Completion)
        self.assertIn("deadline", str(error))
        self.assertLess(elapsed, DEADLINE + SLACK, "the 1 s deadline held the call %.1f s" % elapsed)


def drip(data: bytes, every: float = 0.3) -> List[Any]:
    """*data* one byte at a time, *every* seconds apart (always under the 2 s read timeout)."""
    items = []  # type: List[Any]
    for index in range(len(data)):
        items.extend([data[index : index + 1], every])
    return items


class DeadlineBoundsEverything(DeadlineTestCase):
    def test_a_dripped_response_head(self) -> None:
        self.assert_deadline_holds(ScriptedResponse.sse(CHAT, drip_head=0.3))

    def test_a_late_response_head(self) -> None:
        self.assert_deadline_holds(ScriptedResponse.sse(CHAT, head_delay=1.8))

    def test_a_dripped_error_body(self) -> None:
        body = b'{"error": {"message": "' + b"x" * 200 + b'"}}'
        self.assert_deadline_holds(ScriptedResponse(status=500, headers=dict(JSON_TYPE), chunks=drip(body), framing="length"))

    def test_a_dripped_non_streamed_json_answer(self) -> None:
        body = b'{"object": "chat.completion", "choices": [' + b" " * 200 + b"]}"
        self.assert_deadline_holds(ScriptedResponse(headers=dict(JSON_TYPE), chunks=drip(body), framing="close"))

    def test_a_dripped_html_preview(self) -> None:
        page = b"<html>" + b"<p>" * 100
        headers = {"Content-Type": "text/html"}
        self.assert_deadline_holds(ScriptedResponse(headers=headers, chunks=drip(page), framing="chunked"))

    def test_compressed_bodies_that_inflate_to_nothing(self) -> None:
        for encoding, wbits in (("deflate", zlib.MAX_WBITS), ("gzip", 16 + zlib.MAX_WBITS)):
            for framing in ("close", "chunked", "length"):
                with self.subTest(encoding=encoding, framing=framing):
                    compressor = zlib.compressobj(wbits=wbits)
                    start = compressor.compress(b"") + compressor.flush(zlib.Z_SYNC_FLUSH)
                    empty = b"\x00\x00\x00\xff\xff"  # an empty stored block: it inflates to nothing
                    headers = {"Content-Type": "text/event-stream", "Content-Encoding": encoding}
                    chunks = [start] + [0.3, empty] * 20  # type: List[Any]
                    self.assert_deadline_holds(ScriptedResponse(headers=headers, chunks=chunks, framing=framing))

    def test_a_dripped_chunked_trailer(self) -> None:
        no_end_marker = [event for event in CHAT if b"[DONE]" not in event]
        self.assert_deadline_holds(ScriptedResponse.sse(no_end_marker, trailer=drip(b"X-Checksum: 1234567890\r\n")))


class CancelReachesEveryWait(DeadlineTestCase):
    def cancel_lag(self, url: str, use_event: bool, delay: float = 0.3) -> float:
        """Seconds from a cancel (``.cancel()`` or the ``cancel=`` event) to the quiet end of the loop."""
        event = threading.Event()
        stream = stream_completion(url, json={}, retry=3, timeout=(5, 10), cancel=event if use_event else None)
        timer = threading.Timer(delay, event.set if use_event else stream.cancel)
        start = time.monotonic()
        timer.start()
        with stream:
            self.assertEqual(list(stream), [])
        lag = time.monotonic() - start - delay
        timer.join()
        self.assertTrue(stream.cancelled)
        return lag

    def test_cancel_while_waiting_for_the_response_head(self) -> None:
        self.server.script("/v1/chat/completions", ScriptedResponse.sse(CHAT, head_delay=8))
        fds, threads = open_fds(), threading.active_count()
        for use_event in (False, True):
            with self.subTest(use_event=use_event):
                lag = self.cancel_lag(self.url, use_event)
                self.assertLess(lag, 0.5, "the cancel took %.2f s" % lag)
        self.server.close()
        assert_back_to(self, fds, threads)

    def test_cancel_while_connecting(self) -> None:
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = []  # a full accept queue: the kernel drops our SYN, connect() blocks
        for _ in range(4):
            filler = socket.socket()
            self.addCleanup(filler.close)
            filler.setblocking(False)
            try:
                filler.connect(listener.getsockname())
            except (BlockingIOError, OSError):
                pass
            fillers.append(filler)
        time.sleep(0.2)
        url = "http://127.0.0.1:%d/v1" % listener.getsockname()[1]
        for use_event in (False, True):
            with self.subTest(use_event=use_event):
                lag = self.cancel_lag(url, use_event)
                self.assertLess(lag, 0.5, "the cancel took %.2f s" % lag)


if __name__ == "__main__":
    unittest.main()
