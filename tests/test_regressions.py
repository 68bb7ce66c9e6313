"""Regressions found by the robustness work (fuzzing, hostile servers), one test per bug."""
import gc
import time
import unittest

import requests

import ssekit.stream
from ssekit import (APIStatusError, EventTooLargeError, IncompleteStreamError, SSEDecoder, ServerSentEvent,
                    SSEKitError, connect_sse, follow_sse, stream_completion)
from ssekit.testing.builders import build_result, generation_events
from ssekit.testing.server import ScriptedResponse, SSEServer
from tests.support import open_fds

KEY = "sk-test-SECRET-0123456789"


class Regressions(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)

    def test_leading_bom_is_not_counted_against_the_first_line(self) -> None:
        data = b"\xef\xbb\xbfdata: 0123456789\n\n"  # the line is exactly 16 bytes
        decoder = SSEDecoder(16)
        events = []
        for i in range(len(data)):
            events += decoder.feed(data[i : i + 1])
        self.assertEqual(events, [ServerSentEvent(data="0123456789")])

    def test_connect_sse_content_length_longer_than_the_body(self) -> None:
        body = b"data: 1\n\ndata: 2\n\n"
        self.server.script("/s", ScriptedResponse.sse([body], framing="length", content_length=len(body) + 100))
        seen = []
        with requests.Session() as session:
            with self.assertRaises(IncompleteStreamError):
                with connect_sse(session, "GET", self.server.url("/s"), timeout=(2, 2)) as source:
                    seen.extend(source.iter_sse())
        self.assertEqual([event.data for event in seen], ["1", "2"])

    def test_own_session_closes_its_sockets_without_the_garbage_collector(self) -> None:
        other = SSEServer(host="localhost").start()
        self.addCleanup(other.close)
        other.script("/v1", ScriptedResponse.sse(generation_events("Hi")))
        self.server.script("/redirect", ScriptedResponse(status=307, headers={"Location": other.url("/v1")}))
        self.server.script("/401", ScriptedResponse.json({"error": {"message": "no"}}, status=401))
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)
        before = open_fds()
        with stream_completion(self.server.url("/redirect"), json={}, retry=0) as stream:
            self.assertEqual("".join(stream), "Hi")
        with self.assertRaises(APIStatusError):
            with stream_completion(self.server.url("/401"), json={}, retry=0) as stream:
                list(stream)
        deadline = time.monotonic() + 3
        while open_fds() > before and time.monotonic() < deadline:
            time.sleep(0.02)
        # Only the server side may still hold its ends until the clients' FINs are read.
        self.assertLessEqual(open_fds(), before)

    def test_oversized_non_streamed_result_is_event_too_large(self) -> None:
        self.server.script("/j", ScriptedResponse.json(build_result("generation", "x" * (2 << 20))))
        with self.assertRaises(SSEKitError) as caught:
            with stream_completion(self.server.url("/j"), json={}, retry=0, max_event_size=1 << 20) as stream:
                list(stream)
        self.assertIs(type(caught.exception), EventTooLargeError, caught.exception)

    def test_server_retry_field_is_capped(self) -> None:
        self.server.script("/feed", ScriptedResponse.sse([b"retry: 3600000\ndata: x\n\n"]))
        start = time.monotonic()
        with requests.Session() as session:  # the cap, made small for the test
            events = list(follow_sse(session, self.server.url("/feed"), max_reconnects=1, timeout=(2, 2), max_retry_after=0.3))
        self.assertEqual([event.data for event in events], ["x", "x"])
        self.assertLess(time.monotonic() - start, 2)

    def test_x_api_key_does_not_follow_to_another_host(self) -> None:
        other = SSEServer(host="localhost").start()
        self.addCleanup(other.close)
        other.script("/v1", ScriptedResponse.sse(generation_events("Hi")))
        self.server.script("/v1", ScriptedResponse(status=307, headers={"Location": other.url("/v1")}))
        with stream_completion(self.server.url("/v1"), json={}, headers={"x-api-key": KEY}, retry=0) as stream:
            self.assertEqual("".join(stream), "Hi")
        self.assertEqual(self.server.requests[0].headers["x-api-key"], KEY)
        self.assertIsNone(other.requests[0].headers.get("x-api-key"))

    def test_key_echoed_by_the_server_is_scrubbed(self) -> None:
        echo = lambda request: ScriptedResponse.json(
            {"error": {"message": "Incorrect API key provided: %s" % request.headers["Authorization"][7:]}}, status=401)
        self.server.route("/v1", echo)
        with self.assertRaises(APIStatusError) as caught:
            with stream_completion(self.server.url("/v1"), json={}, api_key=KEY, retry=0) as stream:
                list(stream)
        self.assertNotIn(KEY, str(caught.exception))
        self.assertNotIn(KEY, repr(caught.exception.body))
        self.assertIn("[redacted]", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
