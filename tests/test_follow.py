"""follow_sse against a real local server that ends, drops and refuses connections."""
import threading
import time
import unittest
from typing import Any, List

import requests

from ssekit import APIStatusError, ContentTypeError, ServerSentEvent, follow_sse
from ssekit.errors import InvalidRequestError, StreamConnectionError, StreamTimeoutError
from ssekit.testing.server import RecordedRequest, ScriptedResponse, SSEServer

FIRST = b"retry: 50\nid: 1\ndata: a\n\n"
SECOND = b"id: 2\ndata: b\n\n"
THIRD = b"id: 3\ndata: c\n\n"
NO_CONTENT = ScriptedResponse(status=204, headers={})


class FollowTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)
        self.session = requests.Session()
        self.addCleanup(self.session.close)
        self.url = self.server.url("/feed")

    def script(self, *responses: ScriptedResponse) -> None:
        self.server.script("/feed", *responses)

    def follow(self, **options: Any) -> List[ServerSentEvent]:
        options.setdefault("timeout", (2, 5))
        options.setdefault("reconnect_delay", 0.01)
        return list(follow_sse(self.session, self.url, **options))

    def last_event_ids(self) -> List[Any]:
        return [request.headers.get("Last-Event-ID") for request in self.server.requests]


class Reconnection(FollowTestCase):
    def test_reconnects_with_last_event_id_until_204(self) -> None:
        self.script(ScriptedResponse.sse([FIRST, SECOND]), ScriptedResponse.sse([THIRD]), NO_CONTENT)
        with self.assertLogs("ssekit", "INFO") as logs:
            events = self.follow()
        self.assertEqual([(event.id, event.data) for event in events], [("1", "a"), ("2", "b"), ("3", "c")])
        self.assertEqual(self.last_event_ids(), [None, "2", "3"])
        self.assertIn("204", logs.output[-1])
        self.assertIn("the stream ended", logs.output[0])

    def test_waits_the_servers_retry_delay(self) -> None:
        arrivals = []  # type: List[float]
        responses = [ScriptedResponse.sse([b"retry: 300\ndata: x\n\n"]), ScriptedResponse.sse([b"data: y\n\n"]), NO_CONTENT]

        def answer(request: RecordedRequest) -> ScriptedResponse:
            arrivals.append(time.monotonic())
            return responses[len(arrivals) - 1]

        self.server.route("/feed", answer)
        events = self.follow(reconnect_delay=5)  # the server's 300 ms replace the default
        self.assertEqual([event.data for event in events], ["x", "y"])
        gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
        self.assertTrue(all(0.3 <= gap < 1.0 for gap in gaps), gaps)

    def test_a_dropped_connection_resumes_after_the_last_complete_event(self) -> None:
        self.script(ScriptedResponse.sse([FIRST, SECOND], cut_after=len(FIRST) + 5), ScriptedResponse.sse([SECOND, THIRD]), NO_CONTENT)
        events = self.follow()
        self.assertEqual([event.data for event in events], ["a", "b", "c"])
        self.assertEqual(self.last_event_ids(), [None, "1", "3"])

    def test_the_id_persists_across_connections(self) -> None:
        self.script(ScriptedResponse.sse([FIRST]), ScriptedResponse.sse([b"data: no id here\n\n"]), NO_CONTENT)
        events = self.follow()
        self.assertEqual([(event.id, event.data) for event in events], [("1", "a"), ("1", "no id here")])
        self.assertEqual(self.last_event_ids(), [None, "1", "1"])

    def test_a_given_last_event_id_is_sent_first(self) -> None:
        self.script(ScriptedResponse.sse([THIRD]), NO_CONTENT)
        self.follow(last_event_id="2", headers={"X-Client": "t"})
        self.assertEqual(self.last_event_ids(), ["2", "3"])
        self.assertEqual(self.server.requests[0].headers["X-Client"], "t")

    def test_a_silent_server_is_reconnected_after_the_read_timeout(self) -> None:
        self.script(ScriptedResponse.sse([FIRST], stall=True), ScriptedResponse.sse([SECOND]), NO_CONTENT)
        events = self.follow(timeout=(2, 0.2))
        self.assertEqual([event.data for event in events], ["a", "b"])
        self.assertEqual(self.last_event_ids(), [None, "1", "2"])

    def test_server_errors_are_retried_honouring_retry_after(self) -> None:
        self.script(ScriptedResponse.json({"error": "restarting"}, status=503, retry_after=0.3), ScriptedResponse.sse([FIRST]), NO_CONTENT)
        start = time.monotonic()
        with self.assertLogs("ssekit", "INFO") as logs:
            events = self.follow()
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.assertEqual([event.data for event in events], ["a"])
        self.assertIn("restarting", logs.output[0])


class Stopping(FollowTestCase):
    def test_max_reconnects_ends_quietly_after_delivered_events(self) -> None:
        self.script(ScriptedResponse.sse([FIRST, SECOND]))
        events = self.follow(max_reconnects=2)
        self.assertEqual([event.data for event in events], ["a", "b"] * 3)
        self.assertEqual(len(self.server.requests), 3)

    def test_max_reconnects_raises_the_last_failure(self) -> None:
        self.script(ScriptedResponse.json({"error": "down"}, status=502))
        with self.assertRaises(APIStatusError) as caught:
            self.follow(max_reconnects=1)
        self.assertEqual(caught.exception.status_code, 502)
        self.assertEqual(len(self.server.requests), 2)

    def test_zero_reconnects(self) -> None:
        self.script(ScriptedResponse.sse([FIRST]))
        self.assertEqual(len(self.follow(max_reconnects=0)), 1)
        self.assertEqual(len(self.server.requests), 1)

    def test_a_client_error_stops_at_once(self) -> None:
        self.script(ScriptedResponse.json({"error": "no such feed"}, status=404))
        with self.assertRaises(APIStatusError) as caught:
            self.follow()
        self.assertEqual(caught.exception.status_code, 404)
        self.assertEqual(len(self.server.requests), 1)

    def test_a_non_sse_answer_stops_at_once(self) -> None:
        self.script(ScriptedResponse.json({"events": []}))
        with self.assertRaises(ContentTypeError):
            self.follow()
        self.assertEqual(len(self.server.requests), 1)

    def test_connection_refused_after_max_reconnects(self) -> None:
        self.server.close()
        with self.assertLogs("ssekit", "INFO"), self.assertRaises(StreamConnectionError):
            self.follow(max_reconnects=2)

    def test_leaving_the_loop_closes_the_connection(self) -> None:
        self.script(ScriptedResponse.sse([FIRST], stall=True))
        before = threading.active_count()
        feed = follow_sse(self.session, self.url, timeout=(2, 5))
        for event in feed:
            self.assertEqual(event.data, "a")
            break
        feed.close()  # what a for loop's end does when the generator is dropped
        self.assertEqual(len(self.server.requests), 1)
        deadline = time.monotonic() + 2
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.01)  # the server's stalled handler ends only once our side closed
        self.assertLessEqual(threading.active_count(), before)


class Pacing(FollowTestCase):
    def test_retry_zero_has_a_floor(self) -> None:
        self.script(ScriptedResponse.sse([b"retry: 0\ndata: tick\n\n"], framing="length"))
        start = time.monotonic()
        for _ in follow_sse(self.session, self.url, timeout=(2, 2)):
            if time.monotonic() - start > 1.0:
                break
        self.assertLessEqual(len(self.server.requests), 6, "%d connections in 1 s" % len(self.server.requests))

    def test_consecutive_failures_back_off_until_the_retries_are_spent(self) -> None:
        arrivals = []  # type: List[float]

        def busy(request: RecordedRequest) -> ScriptedResponse:
            arrivals.append(time.monotonic())
            return ScriptedResponse.json({"error": "busy"}, status=503)

        self.server.route("/feed", busy)
        with self.assertRaises(APIStatusError):
            self.follow(retry=3, reconnect_delay=0)
        gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
        self.assertEqual(len(arrivals), 4)
        self.assertGreaterEqual(gaps[0], 0.25)  # the floor, even for the first reconnection
        self.assertGreater(gaps[2], gaps[0] * 1.5, gaps)

    def test_a_delivering_connection_resets_the_backoff(self) -> None:
        self.script(ScriptedResponse.sse([FIRST], cut_after=len(FIRST) + 3))  # drops after one event, every time
        events = self.follow(retry=0, max_reconnects=3)  # retry=0: any failure without an event would raise
        self.assertEqual([event.data for event in events], ["a"] * 4)

    def test_a_huge_retry_field_is_cut_to_max_retry_after(self) -> None:
        self.script(ScriptedResponse.sse([b"retry: " + b"9" * 4000 + b"\ndata: x\n\n"]))
        start = time.monotonic()
        events = self.follow(max_reconnects=1, max_retry_after=0.3)
        self.assertEqual([event.data for event in events], ["x", "x"])
        self.assertLess(time.monotonic() - start, 2)


class CancelAndDeadline(FollowTestCase):
    def test_cancel_during_a_long_reconnect_wait(self) -> None:
        self.script(ScriptedResponse.sse([SECOND]))  # no retry: field: the 30 s delay holds
        cancel = threading.Event()
        events = []  # type: List[str]
        start = time.monotonic()
        threading.Timer(0.4, cancel.set).start()
        for event in follow_sse(self.session, self.url, reconnect_delay=30, cancel=cancel, timeout=(2, 5)):
            events.append(event.data)
        self.assertLess(time.monotonic() - start, 0.9)
        self.assertEqual(events, ["b"])

    def test_cancel_while_a_stalled_stream_is_read(self) -> None:
        self.script(ScriptedResponse.sse([FIRST], stall=True))
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        start = time.monotonic()
        self.assertEqual(len(list(follow_sse(self.session, self.url, cancel=cancel, timeout=(2, 10)))), 1)
        self.assertLess(time.monotonic() - start, 0.8)

    def test_the_deadline_ends_a_wait_and_a_read(self) -> None:
        for response in (ScriptedResponse.sse([SECOND]), ScriptedResponse.sse([SECOND], stall=True)):
            with self.subTest(stall=response.stall):
                self.script(response)
                start = time.monotonic()
                with self.assertRaises(StreamTimeoutError):
                    list(follow_sse(self.session, self.url, reconnect_delay=30, deadline=0.8, timeout=(2, 10)))
                self.assertLess(time.monotonic() - start, 2.0)

    def test_bad_arguments_are_refused_at_the_call(self) -> None:
        for options in ({"cancel": True}, {"deadline": -1}, {"timeout": "x"}, {"retyr": 2}, {"headers": {"X": "\u65e5"}}):
            with self.subTest(options=options):
                with self.assertRaises(InvalidRequestError):
                    follow_sse(self.session, self.url, **options)  # type: ignore[arg-type]
        self.assertEqual(self.server.requests, [])


class UnsendableIds(FollowTestCase):
    def test_an_id_beyond_latin_1_is_sent_percent_encoded(self) -> None:
        self.script(ScriptedResponse.sse(["id: \u65e5\u672c-1\ndata: a\n\n"]), NO_CONTENT)
        events = self.follow()
        self.assertEqual([event.id for event in events], ["\u65e5\u672c-1"])
        self.assertEqual(self.last_event_ids(), [None, "%E6%97%A5%E6%9C%AC-1"])


if __name__ == "__main__":
    unittest.main()
