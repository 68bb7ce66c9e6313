"""Hostile servers, for real, on 127.0.0.1: every fault ends in one exact SSEKitError, text kept.

Each test scripts a misbehaving server (``ssekit.testing.server``), reads it
through ``stream_completion`` (and ``connect_sse`` where the low level is the
point), and states the exact exception class, what ``.partial`` holds, that
the client did not hang (elapsed time) and, after every test, that no socket
(``/proc/self/fd``) and no thread was left behind.
"""
import gc
import io
import logging
import socket
import traceback
import threading
import time
import unittest
from typing import Any, List, Tuple, Type

from ssekit import (
    APIStatusError,
    BadRequestError,
    InternalServerError,
    Completion,
    ContentTypeError,
    EventTooLargeError,
    IncompleteStreamError,
    MalformedEventError,
    ServerSentEvent,
    SSEKitError,
    StreamTimeoutError,
    connect_sse,
    stream_completion,
)
from ssekit.testing.builders import chat_completions_events, generation_events, sse_event
from ssekit.testing.server import ScriptedResponse, SSEServer
from tests.sizes import scaled
from tests.support import PeakMemory, assert_back_to, assert_peak_below, closing_session, open_fds

REQUEST = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
TEXT = "Hello wonderful world"
#: generation_events(TEXT): start, "Hello", " wonderful", " world", end, [DONE].
EVENTS = generation_events(TEXT)
START, HELLO, WONDERFUL, WORLD = EVENTS[:4]
KEY = "sk-test-SECRET-0123456789"


class HostileTestCase(unittest.TestCase):
    """A fresh server per test, and a check after it that nothing leaked."""

    def setUp(self) -> None:
        self.fds_before = open_fds()
        self.threads_before = threading.active_count()
        self.addCleanup(self.check_nothing_leaked)  # runs last: after the server closed
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)

    def check_nothing_leaked(self) -> None:
        assert_back_to(self, self.fds_before, self.threads_before)

    def serve(self, response: ScriptedResponse, path: str = "/v1/generate") -> str:
        self.server.script(path, response)
        return self.server.url(path)

    def fail_stream(
        self, expected: Type[SSEKitError], url: str, **options: Any
    ) -> Tuple[SSEKitError, List[str], float]:
        """Stream *url*; it must raise exactly *expected*. Returns (error, deltas seen, seconds)."""
        options.setdefault("retry", 0)
        options.setdefault("timeout", (2, 2))
        deltas = []  # type: List[str]
        start = time.monotonic()
        with self.assertRaises(SSEKitError) as caught:
            with stream_completion(url, json=REQUEST, **options) as stream:
                for delta in stream:
                    deltas.append(delta)
        elapsed = time.monotonic() - start
        error = caught.exception
        self.assertIs(type(error), expected, "%s: %s" % (type(error).__name__, error))
        self.assertIsInstance(error.partial, Completion, "no .partial on %r" % error)
        self.assertEqual(error.partial.text, "".join(deltas), "the partial text is not what the caller saw")
        self.assertEqual(str(error), error.message)
        return error, deltas, elapsed

    def complete_stream(self, url: str, **options: Any) -> Tuple[Completion, List[str], float]:
        options.setdefault("retry", 0)
        options.setdefault("timeout", (2, 2))
        start = time.monotonic()
        with stream_completion(url, json=REQUEST, **options) as stream:
            deltas = list(stream)
        return stream.completion, deltas, time.monotonic() - start


class SlowAndStalledServers(HostileTestCase):
    def test_drip_one_byte_at_a_time(self) -> None:
        body = b"".join(EVENTS)
        # ~330 one-byte HTTP chunks 1.5 ms apart: the whole takes longer than the read timeout.
        url = self.serve(ScriptedResponse.sse([body[i : i + 1] for i in range(len(body))], interval=0.0015))
        completion, deltas, elapsed = self.complete_stream(url, timeout=(2, 0.3))
        self.assertEqual(deltas, ["Hello", " wonderful", " world"])
        self.assertEqual((completion.text, completion.complete, completion.usage.total_tokens), (TEXT, True, 3 + 12))
        self.assertGreater(elapsed, 0.3, "the read timeout bounds silence, not the whole stream")

    def test_drip_cuts_every_multibyte_character(self) -> None:
        text = "caf\u00e9 \u65e5\u672c\u8a9e \U0001f600!"
        body = b"".join(chat_completions_events(text, tool_calls=[{"id": "c1", "name": "f", "arguments": '{"q": "\u00e9"}'}]))
        url = self.serve(ScriptedResponse.sse([body[i : i + 1] for i in range(len(body))]))
        completion, deltas, _ = self.complete_stream(url)
        self.assertEqual("".join(deltas), text)
        self.assertEqual(completion.tool_calls[0].parse_arguments(), {"q": "\u00e9"})
        self.assertEqual(completion.finish_reason, "tool_calls")

    def test_stall_after_headers(self) -> None:
        url = self.serve(ScriptedResponse.sse([], stall=True))
        error, deltas, elapsed = self.fail_stream(StreamTimeoutError, url, timeout=(2, 0.3))
        self.assertEqual((deltas, error.partial.text, error.partial.complete), ([], "", False))
        self.assertIn("no data for 0.3 s", str(error))
        self.assertLess(elapsed, 1.5)

    def test_stall_mid_event_is_not_retried_after_output(self) -> None:
        url = self.serve(ScriptedResponse.sse([START, HELLO, WONDERFUL, WORLD[:20]], stall=True))
        error, deltas, elapsed = self.fail_stream(StreamTimeoutError, url, timeout=(2, 0.3), retry=2)
        self.assertEqual(deltas, ["Hello", " wonderful"])
        self.assertEqual((error.partial.text, error.partial.complete), ("Hello wonderful", False))
        self.assertIn("not retried", str(error))
        self.assertEqual(len(self.server.requests), 1, "retried after text reached the caller")
        self.assertLess(elapsed, 1.5)

    def test_server_that_never_ends_is_stopped_by_the_deadline(self) -> None:
        # A delta every 20 ms for ~40 s: the read timeout never fires, the deadline must.
        url = self.serve(ScriptedResponse.sse([START] + [HELLO] * 2000, interval=0.02))
        error, deltas, elapsed = self.fail_stream(StreamTimeoutError, url, timeout=(2, 1), deadline=0.5)
        self.assertIn("deadline", str(error))
        self.assertGreater(len(deltas), 5)
        self.assertEqual(error.partial.text, "Hello" * len(deltas))
        self.assertLess(elapsed, 1.5)


class OversizedInput(HostileTestCase):
    def traced(self, expected: Type[SSEKitError], url: str) -> Tuple[Tuple[SSEKitError, List[str], float], PeakMemory]:
        """fail_stream() with a 1 MiB limit, and the memory it traced (no peak without tracemalloc)."""
        with PeakMemory() as memory:
            # (a generous read timeout: on a loaded CI machine the server's compression runs slowly)
            outcome = self.fail_stream(expected, url, max_event_size=1 << 20, timeout=(5, 15))
        return outcome, memory

    def test_endless_line_is_refused_with_bounded_memory(self) -> None:
        # 128 MiB of one line on offer; the 1 MiB limit must stop the read early.
        endless = [START, HELLO, b"data: "] + [b"x" * 65536] * 2048
        url = self.serve(ScriptedResponse.sse(endless))
        (error, deltas, elapsed), memory = self.traced(EventTooLargeError, url)
        self.assertEqual((deltas, error.partial.text), (["Hello"], "Hello"))
        self.assertEqual(error.limit, 1 << 20)
        self.assertIn("line exceeds the 1048576-byte limit", str(error))
        self.assertLess(elapsed, 2.0)
        assert_peak_below(self, memory, 8 << 20)

    def test_gzip_bomb_is_refused_with_bounded_memory(self) -> None:
        # 32 MiB of one line in ~33 KB of chunked gzip, inflated at most 64 KiB at a time.
        url = self.serve(ScriptedResponse.sse([START, HELLO, b"data: "] + [b"x" * (1 << 20)] * 32, gzip=True))
        (error, deltas, elapsed), memory = self.traced(EventTooLargeError, url)
        self.assertEqual((deltas, error.partial.text), (["Hello"], "Hello"))
        self.assertLess(elapsed, 15.0)
        assert_peak_below(self, memory, 8 << 20)

    def test_event_far_over_the_size_limit(self) -> None:
        # Many short data lines: each line is fine, the event is 16 MiB.
        lines = [b"data: " + b"y" * 1000 + b"\n"] * 16384
        url = self.serve(ScriptedResponse.sse([START, HELLO] + lines + [b"\n"]))
        error, deltas, _ = self.fail_stream(EventTooLargeError, url, max_event_size=64 * 1024)
        self.assertEqual((deltas, error.partial.text), (["Hello"], "Hello"))
        self.assertIn("event exceeds the 65536-byte limit", str(error))

    def test_huge_error_body_is_read_only_up_to_64_kib(self) -> None:
        url = self.serve(ScriptedResponse.text(b"z" * (20 << 20), status=400, content_type="text/plain"))
        error, _, elapsed = self.fail_stream(BadRequestError, url)
        self.assertEqual(error.status_code, 400)
        self.assertEqual(error.body, "z" * 65536)
        self.assertLess(len(str(error)), 400)
        self.assertEqual(error.partial.text, "")
        self.assertLess(elapsed, 2.0)

    def test_huge_html_answer_is_previewed_not_read(self) -> None:
        url = self.serve(ScriptedResponse.text(b"<p>" * (7 << 20)))
        error, _, elapsed = self.fail_stream(ContentTypeError, url)
        self.assertLessEqual(len(error.body_preview), 200)
        self.assertLess(len(str(error)), 500)
        self.assertLess(elapsed, 2.0)

    def test_a_million_tiny_events(self) -> None:  # (a third of a million on CI's lighter suites)
        thousands = scaled(1000)
        block = b'data: {"type":"content_delta","delta":"%s"}\n\n'
        pieces = b"".join(block % bytes([letter]) for letter in b"abcdefghij") * 100  # 1,000 events
        end = sse_event({"type": "generation_end", "tokens_used": 10 ** 6}) + sse_event("[DONE]")
        url = self.serve(ScriptedResponse.sse([START] + [pieces] * thousands + [end]))
        completion, deltas, elapsed = self.complete_stream(url, timeout=(2, 10))
        self.assertEqual(len(deltas), thousands * 1000)
        self.assertEqual(completion.text, "abcdefghij" * thousands * 100)
        self.assertEqual((completion.complete, completion.usage.total_tokens), (True, 10 ** 6))

    def test_a_million_tiny_events_through_connect_sse(self) -> None:
        thousands = scaled(1000)
        url = self.serve(ScriptedResponse.sse([b"data: x\n\n" * 1000] * thousands + [b"event: end\ndata: y\n\n"]))
        count = 0
        with closing_session() as session:
            with connect_sse(session, "GET", url, timeout=(2, 10)) as source:
                for event in source.iter_sse():
                    count += 1
                    last = event
        self.assertEqual(count, thousands * 1000 + 1)
        self.assertEqual(last, ServerSentEvent("end", "y"))


class BrokenBodies(HostileTestCase):
    CUT_EVENT = b'data: {"type":"content_delta","delta":" caf\xc3'  # cut inside the two bytes of "é"

    def test_connection_cut_mid_utf8_character(self) -> None:
        url = self.serve(ScriptedResponse.sse([START, HELLO, self.CUT_EVENT], cut_after=10 ** 6))
        error, deltas, elapsed = self.fail_stream(IncompleteStreamError, url)
        self.assertEqual((deltas, error.partial.text, error.partial.complete), (["Hello"], "Hello", False))
        self.assertIn("the connection broke mid-stream", str(error))
        self.assertIn("5 characters of text received so far are in .partial", str(error))
        self.assertLess(elapsed, 1.0)

    def test_close_delimited_body_ends_mid_utf8_character(self) -> None:
        # HTTP/1.0 framing: the cut looks like a clean end, so the missing generation_end must tell.
        url = self.serve(ScriptedResponse.sse([START, HELLO, self.CUT_EVENT], framing="close"))
        error, deltas, _ = self.fail_stream(IncompleteStreamError, url)
        self.assertEqual((deltas, error.partial.text), (["Hello"], "Hello"))
        self.assertIn("ended before its proper end (generation_end)", str(error))

    def test_connect_sse_cut_mid_utf8_character(self) -> None:
        url = self.serve(ScriptedResponse.sse([START, HELLO, self.CUT_EVENT], cut_after=10 ** 6))
        seen = []  # type: List[ServerSentEvent]
        with closing_session() as session:
            with self.assertRaises(SSEKitError) as caught:
                with connect_sse(session, "GET", url, timeout=(2, 2)) as source:
                    seen.extend(source.iter_sse())
        self.assertIs(type(caught.exception), IncompleteStreamError)
        self.assertEqual([event.json()["type"] for event in seen], ["generation_start", "content_delta"])
        self.assertTrue(source.decoder.pending)

    def test_content_length_longer_than_the_body(self) -> None:
        body = b"".join([START, HELLO, WONDERFUL])
        url = self.serve(ScriptedResponse.sse([body], framing="length", content_length=len(body) + 500))
        error, deltas, elapsed = self.fail_stream(IncompleteStreamError, url)
        self.assertEqual((deltas, error.partial.text, error.partial.complete), (["Hello", " wonderful"], "Hello wonderful", False))
        self.assertLess(elapsed, 1.0)

    def test_content_length_shorter_than_the_body(self) -> None:
        body = b"".join(EVENTS)
        declared = len(b"".join([START, HELLO, WONDERFUL])) + 10  # stops inside " world"
        url = self.serve(ScriptedResponse.sse([body], framing="length", content_length=declared))
        error, deltas, _ = self.fail_stream(IncompleteStreamError, url)
        self.assertEqual((deltas, error.partial.text, error.partial.complete), (["Hello", " wonderful"], "Hello wonderful", False))

    def test_garbage_json_after_valid_events(self) -> None:
        garbage = b"\x00\xff\xfe\x80 binary junk\r\n{not json}\n\ndata: {oops\n\n"
        url = self.serve(ScriptedResponse.sse([START, HELLO, WONDERFUL, garbage] + EVENTS[3:]))
        error, deltas, _ = self.fail_stream(MalformedEventError, url)
        self.assertEqual((deltas, error.partial.text), (["Hello", " wonderful"], "Hello wonderful"))
        self.assertEqual(error.data, "{oops")
        self.assertIn("not valid JSON", str(error))

    def test_binary_garbage_then_close(self) -> None:
        # Junk lines are unknown SSE fields (ignored); the stream then ends without its end event.
        junk = bytes(range(256)) * 64
        url = self.serve(ScriptedResponse.sse([START, HELLO, junk], framing="close"))
        error, deltas, _ = self.fail_stream(IncompleteStreamError, url)
        self.assertEqual((deltas, error.partial.text), (["Hello"], "Hello"))

    def test_wrong_types_after_valid_events_are_ignored(self) -> None:
        wrong = [
            sse_event({"type": "content_delta", "delta": None}),
            sse_event({"type": "content_delta", "delta": ["x"]}),
            sse_event({"type": "generation_start", "id": 7}),
            sse_event({"type": None}),
            sse_event({"type": "surprise", "data": {"deep": [1, 2]}}),
        ]
        url = self.serve(ScriptedResponse.sse([START, HELLO] + wrong + EVENTS[2:]))
        completion, deltas, _ = self.complete_stream(url)
        self.assertEqual((completion.text, completion.complete, completion.id), (TEXT, True, "gen_0123456789abcdef"))


class WrongAnswers(HostileTestCase):
    HTML = "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"

    def test_200_with_html(self) -> None:
        url = self.serve(ScriptedResponse.text(self.HTML))
        error, deltas, _ = self.fail_stream(ContentTypeError, url)
        self.assertEqual((deltas, error.partial.text), ([], ""))
        self.assertEqual(error.content_type, "text/html; charset=utf-8")
        self.assertIn("text/html", str(error))
        self.assertIn("502 Bad Gateway", error.body_preview)

    def test_connect_sse_200_with_html(self) -> None:
        url = self.serve(ScriptedResponse.text(self.HTML))
        with closing_session() as session:
            with self.assertRaises(SSEKitError) as caught:
                with connect_sse(session, "GET", url, timeout=(2, 2)):
                    self.fail("connect_sse yielded a source for an HTML answer")
        self.assertIs(type(caught.exception), ContentTypeError)

    def test_502_with_html(self) -> None:
        url = self.serve(ScriptedResponse.text(self.HTML, status=502))
        error, _, _ = self.fail_stream(InternalServerError, url)
        self.assertEqual(error.status_code, 502)
        self.assertIn("HTTP 502", str(error))
        self.assertTrue(str(error).endswith(": 502 Bad Gateway"), str(error))

    def test_wrong_charset_is_ignored_sse_is_always_utf8(self) -> None:
        text = "caf\u00e9 \u2013 \u65e5\u672c \U0001f600"
        for charset in ("iso-8859-1", "utf-16", "koi8-r"):
            with self.subTest(charset=charset):
                headers = {"Content-Type": "text/event-stream; charset=%s" % charset}
                url = self.serve(ScriptedResponse.sse(generation_events(text), headers=headers), "/" + charset)
                completion, deltas, _ = self.complete_stream(url)
                self.assertEqual((completion.text, "".join(deltas)), (text, text))

    def test_wrong_charset_through_connect_sse(self) -> None:
        headers = {"Content-Type": "text/event-stream; charset=iso-8859-1"}
        url = self.serve(ScriptedResponse.sse(["data: \u00e9\u20ac\n\n"], headers=headers))
        with closing_session() as session, connect_sse(session, "GET", url, timeout=(2, 2)) as source:
            self.assertEqual(list(source.iter_sse()), [ServerSentEvent(data="\u00e9\u20ac")])
            self.assertEqual(source.response.encoding, "iso-8859-1")  # what requests would have used


class CrossHostRedirect(HostileTestCase):
    """127.0.0.1 and localhost are different hosts to requests: Authorization must stay behind."""

    def setUp(self) -> None:
        super().setUp()
        self.other = SSEServer(host="localhost").start()
        self.addCleanup(self.other.close)
        self.other.script("/v1/generate", ScriptedResponse.sse(EVENTS))
        self.other.script("/hop", ScriptedResponse(status=307, headers={"Location": "/v1/generate"}))

    def check_nothing_leaked(self) -> None:
        # requests keeps the 3xx responses in reference cycles (response.history):
        # collect before counting.
        gc.collect()
        super().check_nothing_leaked()

    def redirect(self, path: str, target: str, status: int = 307) -> str:
        return self.serve(ScriptedResponse(status=status, headers={"Location": target}), path)

    def test_api_key_does_not_follow_to_another_host(self) -> None:
        url = self.redirect("/v1/generate", self.other.url("/v1/generate"))
        completion, _, _ = self.complete_stream(url, api_key=KEY)
        self.assertEqual((completion.text, completion.complete), (TEXT, True))
        first, = self.server.requests
        second, = self.other.requests
        self.assertEqual(first.headers["Authorization"], "Bearer " + KEY)
        self.assertEqual(second.headers["Host"], "localhost:%d" % self.other.port)
        self.assertIsNone(second.headers.get("Authorization"))
        self.assertEqual(second.json(), REQUEST, "a 307 resends the body")
        self.assertNotIn(KEY.encode(), second.body + str(second.headers).encode())

    def test_stripped_across_two_hops_on_the_other_host(self) -> None:
        url = self.redirect("/v1/generate", self.other.url("/hop"))
        completion, _, _ = self.complete_stream(url, api_key=KEY)
        self.assertEqual(completion.text, TEXT)
        self.assertEqual([request.path for request in self.other.requests], ["/hop", "/v1/generate"])
        for request in self.other.requests:
            self.assertIsNone(request.headers.get("Authorization"), request.path)

    def test_same_host_redirect_keeps_the_key(self) -> None:
        # The contrast that shows the header is really sent, and really stripped above.
        self.server.script("/v1/generate", ScriptedResponse.sse(EVENTS))
        url = self.redirect("/old", "/v1/generate", status=308)
        completion, _, _ = self.complete_stream(url, api_key=KEY)
        self.assertEqual(completion.text, TEXT)
        self.assertEqual([r.headers.get("Authorization") for r in self.server.requests], ["Bearer " + KEY] * 2)

    def test_connect_sse_authorization_header_does_not_follow(self) -> None:
        url = self.redirect("/v1/generate", self.other.url("/v1/generate"), status=302)
        with closing_session() as session:
            with connect_sse(session, "GET", url, headers={"Authorization": "Bearer " + KEY}, timeout=(2, 2)) as source:
                self.assertEqual(len(list(source.iter_sse())), len(EVENTS))
        self.assertEqual(self.server.requests[0].headers["Authorization"], "Bearer " + KEY)
        self.assertIsNone(self.other.requests[0].headers.get("Authorization"))


class KeysNeverShown(HostileTestCase):
    """Whatever goes wrong, the API key is in no repr, message, traceback or ssekit log line."""

    def test_key_in_header_query_and_userinfo_through_every_failure(self) -> None:
        events = generation_events("Hello world")
        cases = {
            "ok": ScriptedResponse.sse(events),
            "unauthorized": ScriptedResponse.json({"error": {"message": "invalid key"}}, status=401),
            "overloaded": ScriptedResponse.json({"error": "busy"}, status=503, retry_after=0),
            "stall": ScriptedResponse.sse(events[:2], stall=True),
            "cut": ScriptedResponse.sse(events[:2] + [b"data: {"], cut_after=10 ** 6),
            "html": ScriptedResponse.text("<p>hi</p>"),
            "garbage": ScriptedResponse.sse(events[:2] + [b"data: {oops\n\n"]),
            "error-event": ScriptedResponse.sse(events[:2] + [sse_event({"type": "error", "message": "boom"})]),
        }
        urls = []
        for name, response in cases.items():
            urls.append(self.serve(response, "/" + name) + "?api_key=" + KEY)
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        urls += ["http://127.0.0.1:%d/v1?key=%s" % (port, KEY), "http://user:%s@127.0.0.1:%d/v1" % (KEY, port)]
        log = io.StringIO()
        handler = logging.StreamHandler(log)
        logger = logging.getLogger("ssekit")
        level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        self.addCleanup(logger.removeHandler, handler)
        self.addCleanup(logger.setLevel, level)
        failures = 0
        for url in urls:
            stream = stream_completion(url, json=REQUEST, api_key=KEY, retry=1, timeout=(1, 0.3))
            shown = [repr(stream)]
            try:
                with stream:
                    list(stream)
            except SSEKitError as error:
                failures += 1
                shown += [str(error), repr(error), repr(error.partial), repr(vars(error))]
                shown += traceback.format_exception(type(error), error, error.__traceback__)
            shown += [repr(stream), repr(stream.completion)]
            for text in shown:
                self.assertNotIn(KEY, text, url.replace(KEY, "KEY"))
        self.assertEqual(failures, len(urls) - 1)
        self.assertIn("retrying", log.getvalue())  # the log did record the failures
        self.assertNotIn(KEY, log.getvalue())


if __name__ == "__main__":
    unittest.main()
