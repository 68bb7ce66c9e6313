"""stream_completion against a real local server: deltas, cancellation, timeouts, deadlines, retries, secrets."""
import logging
import os
import re
import threading
import time
import unittest
from typing import Any, Callable, List

import requests
from urllib3.util.retry import Retry

from ssekit import (
    APIStatusError,
    ContentTypeError,
    IncompleteStreamError,
    ServerSentEvent,
    SSEKitError,
    StreamError,
    StreamTimeoutError,
    UnsupportedFormatError,
    stream_completion,
)
from ssekit.errors import InvalidRequestError, StreamConnectionError
from ssekit.stream import API_KEY_ENV, CompletionStream
from ssekit.testing.builders import (
    build_result,
    chat_completions_events,
    generation_events,
    messages_events,
    split_tokens,
)
from ssekit.testing.server import RecordedRequest, ScriptedResponse, SSEServer
from tests.sizes import scaled
from tests.support import HAS_PROC_FD, REFCOUNT_REASON, cpython_only, open_fds, settle

TEXT = "Hello there, world"
PIECES = split_tokens(TEXT)  # ['Hello', ' there', ',', ' world']
CHAT = chat_completions_events(TEXT, usage={"prompt_tokens": 5, "completion_tokens": 3})
HEAD = CHAT[:3]  # role chunk, "Hello", " there"
FAST = Retry(total=2, backoff_factor=0.01)
SECRET = "sk-SECRET-0123456789"


def watcher_threads() -> List[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "ssekit-cancel-watcher"]


def server_threads() -> List[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "ssekit-sse-connection"]


class StreamTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)
        self.url = self.server.url("/v1/chat/completions")

    def script(self, *responses: ScriptedResponse) -> None:
        self.server.script("/v1/chat/completions", *responses)

    def stream(self, **options: Any) -> CompletionStream:
        options.setdefault("json", {"model": "m", "stream": True})
        options.setdefault("timeout", (2, 5))
        options.setdefault("retry", FAST)
        return stream_completion(self.url, **options)

    def assert_released(self, stream: CompletionStream) -> None:
        self.assertIsNotNone(stream.response)
        self.assertTrue(stream.response.raw.closed, "the response was not closed")  # type: ignore[union-attr]
        self.assertEqual(watcher_threads(), [])


class Basics(StreamTestCase):
    def test_text_deltas_and_the_completion(self) -> None:
        self.script(ScriptedResponse.sse(CHAT))
        with self.stream() as stream:
            self.assertEqual(stream.completion.text, "")
            deltas = list(stream)
        self.assertEqual(deltas, PIECES)
        completion = stream.completion
        self.assertEqual(completion.text, TEXT)
        self.assertTrue(completion.complete)
        self.assertEqual(completion.finish_reason, "stop")
        self.assertEqual((completion.usage.input_tokens, completion.usage.output_tokens), (5, 3))
        self.assertEqual(completion.id, "chatcmpl-AbCdEf0123456789")
        self.assertFalse(stream.cancelled)
        self.assert_released(stream)

    def test_events_are_raw_and_still_accumulated(self) -> None:
        events = messages_events(TEXT)
        self.script(ScriptedResponse.sse(events))
        with self.stream(format="messages") as stream:
            received = list(stream.events())
        self.assertEqual(len(received), len(events))
        self.assertTrue(all(isinstance(event, ServerSentEvent) for event in received))
        self.assertEqual(received[0].event, "message_start")
        self.assertEqual(stream.completion.text, TEXT)
        self.assertTrue(stream.completion.complete)

    def test_completion_is_current_during_the_loop(self) -> None:
        self.script(ScriptedResponse.sse(CHAT))
        seen = []
        with self.stream() as stream:
            for _ in stream:
                seen.append(stream.completion.text)
        self.assertEqual(seen, ["Hello", "Hello there", "Hello there,", TEXT])

    def test_on_event_hook(self) -> None:
        self.script(ScriptedResponse.sse(CHAT))
        hooked = []  # type: List[Any]
        with self.stream(on_event=lambda event: hooked.append((event.data, stream.completion.text))) as stream:
            deltas = list(stream)
        self.assertEqual(deltas, PIECES)
        self.assertEqual(len(hooked), len(CHAT))
        self.assertEqual(hooked[1][1], "Hello")  # the hook runs after the event was accumulated
        self.assertEqual(hooked[-1][0], "[DONE]")

    def test_request_shape(self) -> None:
        self.script(ScriptedResponse.sse(CHAT))
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        with self.stream(json=body, api_key=SECRET, headers={"X-Trace": "t1"}) as stream:
            list(stream)
        request = self.server.requests[0]
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.json(), body)
        self.assertEqual(request.headers["Accept"], "text/event-stream")
        self.assertEqual(request.headers["Authorization"], "Bearer " + SECRET)
        self.assertEqual(request.headers["X-Trace"], "t1")

    def test_api_key_from_the_environment(self) -> None:
        self.script(ScriptedResponse.sse(CHAT))
        saved = os.environ.get(API_KEY_ENV)
        os.environ[API_KEY_ENV] = SECRET
        try:
            list(self.stream())
            list(self.stream(headers={"authorization": "Bearer caller-own"}))
            list(self.stream(api_key="explicit", headers={"Authorization": "Bearer caller-own"}))
        finally:
            if saved is None:
                del os.environ[API_KEY_ENV]
            else:
                os.environ[API_KEY_ENV] = saved
        sent = [request.headers.get_all("Authorization") for request in self.server.requests]
        self.assertEqual(sent, [["Bearer " + SECRET], ["Bearer caller-own"], ["Bearer explicit"]])

    def test_id_falls_back_to_the_request_id_header(self) -> None:
        self.script(ScriptedResponse.sse(generation_events(TEXT, id=""), headers={"x-request-id": "req-42"}))
        with self.stream() as stream:
            self.assertEqual("".join(stream), TEXT)
        self.assertEqual(stream.completion.id, "req-42")
        self.assertEqual(stream.completion.format, "generation")

    def test_body_id_wins_over_the_header(self) -> None:
        self.script(ScriptedResponse.sse(generation_events(TEXT), headers={"x-generation-id": "hdr"}))
        with self.stream() as stream:
            list(stream)
        self.assertEqual(stream.completion.id, "gen_0123456789abcdef")

    def test_unknown_format_fails_before_any_request(self) -> None:
        with self.assertRaises(UnsupportedFormatError):
            self.stream(format="nope")
        self.assertEqual(self.server.requests, [])

    def test_nothing_is_sent_before_iteration(self) -> None:
        self.script(ScriptedResponse.sse(CHAT))
        stream = self.stream()
        self.assertEqual(self.server.requests, [])
        self.assertIn("not started", repr(stream))
        stream.close()
        self.assertEqual(list(stream), [])
        self.assertEqual(self.server.requests, [])

    def test_a_stream_error_event_keeps_the_partial_text(self) -> None:
        self.script(ScriptedResponse.sse(chat_completions_events(TEXT, error="model overloaded")))
        received = []
        with self.assertRaises(StreamError) as caught:
            with self.stream() as stream:
                received.extend(stream)
        self.assertEqual(received, PIECES)
        self.assertEqual(caught.exception.partial.text, TEXT)
        self.assertIn("model overloaded", str(caught.exception))
        self.assertEqual(len(self.server.requests), 1)

    def test_a_stream_without_its_proper_end_is_incomplete(self) -> None:
        self.script(ScriptedResponse.sse(CHAT[:-3]))  # no finish chunk, usage or [DONE]
        with self.assertRaises(IncompleteStreamError) as caught:
            with self.stream() as stream:
                list(stream)
        self.assertEqual(caught.exception.partial.text, TEXT)
        self.assertFalse(stream.completion.complete)

    def test_a_callers_session_is_reused_and_left_open(self) -> None:
        self.script(ScriptedResponse.sse(CHAT))
        with requests.Session() as session:
            for _ in range(3):
                with self.stream(session=session) as stream:
                    self.assertEqual("".join(stream), TEXT)
            self.assertEqual(self.server.connection_count, 1)
            self.assertEqual(session.get(self.server.url("/v1/chat/completions")).status_code, 200)


class NonStreamed(StreamTestCase):
    def test_a_json_result_yields_its_text_once(self) -> None:
        self.script(ScriptedResponse.json(build_result("chat_completions", TEXT)))
        with self.stream() as stream:
            self.assertEqual(list(stream), [TEXT])
        self.assertTrue(stream.completion.complete)
        self.assertEqual(stream.completion.text, TEXT)
        self.assertEqual(stream.completion.finish_reason, "stop")

    def test_events_give_the_whole_body_as_one_event(self) -> None:
        result = build_result("messages", TEXT)
        self.script(ScriptedResponse.json(result))
        with self.stream() as stream:
            events = list(stream.events())
        self.assertEqual([event.json() for event in events], [result])
        self.assertEqual(stream.completion.text, TEXT)

    def test_a_json_error_object_raises_stream_error(self) -> None:
        self.script(ScriptedResponse.json({"error": {"message": "context too long", "type": "invalid_request_error"}}))
        with self.assertRaises(StreamError) as caught:
            list(self.stream())
        self.assertIn("context too long", str(caught.exception))

    def test_html_names_its_content_type(self) -> None:
        self.script(ScriptedResponse.text("<html><body>Welcome to the captive portal</body></html>"))
        with self.assertRaises(ContentTypeError) as caught:
            list(self.stream())
        self.assertIn("text/html", str(caught.exception))
        self.assertIn("captive portal", str(caught.exception))

    def test_unknown_json_names_its_content_type(self) -> None:
        self.script(ScriptedResponse.json({"status": "queued", "ticket": 7}))
        with self.assertRaises(ContentTypeError) as caught:
            list(self.stream())
        self.assertIn("application/json", str(caught.exception))
        self.assertIn("ticket", str(caught.exception))


class Cancellation(StreamTestCase):
    """Each stream here blocks on the socket after its first events until stopped."""

    def setUp(self) -> None:
        super().setUp()
        self.script(ScriptedResponse.sse(HEAD, stall=True))

    @cpython_only(REFCOUNT_REASON)
    def test_break(self) -> None:
        with self.stream() as stream:
            for text in stream:
                break
            self.assertTrue(stream.cancelled)  # already in the block: the loop's generator is gone
            self.assert_released(stream)
        self.assertEqual(stream.completion.text, "Hello")
        self.assertFalse(stream.completion.complete)

    def test_break_then_leaving_the_with_block(self) -> None:
        with self.stream() as stream:
            for text in stream:
                break
        self.assertTrue(stream.cancelled)
        self.assert_released(stream)
        self.assertEqual(stream.completion.text, "Hello")
        self.assertFalse(stream.completion.complete)

    @cpython_only(REFCOUNT_REASON)
    def test_break_without_with(self) -> None:
        stream = self.stream()
        for _ in stream:
            break
        self.assertTrue(stream.cancelled)
        self.assert_released(stream)

    def test_break_then_close_without_with(self) -> None:
        stream = self.stream(cancel=threading.Event())  # with a cancel watcher, which must end too
        for _ in stream:
            break
        stream.close()
        self.assertTrue(stream.cancelled)
        self.assert_released(stream)

    def test_close_inside_the_loop(self) -> None:
        received = []
        with self.stream() as stream:
            for text in stream:
                received.append(text)
                stream.close()
        self.assertEqual(received, ["Hello"])
        self.assertTrue(stream.cancelled)
        self.assert_released(stream)

    def test_leaving_the_with_block(self) -> None:
        with self.stream() as stream:
            self.assertEqual(next(iter(stream)), "Hello")
        self.assertTrue(stream.cancelled)
        self.assert_released(stream)
        self.assertIn("cancelled", repr(stream))

    def measure_cancel(self, stop: Callable[[], None], stream: CompletionStream, after: float = 0.15) -> float:
        """Seconds from calling *stop* (from a timer thread) to the end of the loop, which must be quiet."""
        called = []  # type: List[float]

        def fire() -> None:
            called.append(time.monotonic())
            stop()

        timer = threading.Timer(after, fire)
        received = []
        with stream:
            timer.start()
            for text in stream:
                received.append(text)
        ended = time.monotonic()
        timer.join()
        self.assertEqual(received, ["Hello", " there"])
        self.assertTrue(stream.cancelled)
        self.assertEqual(stream.completion.text, "Hello there")
        self.assert_released(stream)
        return ended - called[0]

    def test_cancel_from_another_thread_interrupts_a_blocked_read(self) -> None:
        stream = self.stream(timeout=(2, 30))
        self.assertLess(self.measure_cancel(stream.cancel, stream), 0.25)

    def test_close_from_another_thread(self) -> None:
        stream = self.stream(timeout=None)
        self.assertLess(self.measure_cancel(stream.close, stream), 0.25)

    def test_close_from_another_thread_between_events(self) -> None:
        with self.stream() as stream:
            deltas = iter(stream)
            self.assertEqual(next(deltas), "Hello")
            closer = threading.Thread(target=stream.close)
            closer.start()
            closer.join()
            self.assert_released(stream)  # by the other thread, before this one reads again
            self.assertEqual(list(deltas), [])
        self.assertTrue(stream.cancelled)

    def test_cancel_while_the_server_has_not_answered(self) -> None:
        # The wait for the response head is interrupted too: the socket is shut down under it.
        def slow(request: RecordedRequest) -> ScriptedResponse:
            time.sleep(3)
            return ScriptedResponse.sse(HEAD, stall=True)

        self.server.route("/v1/chat/completions", slow)
        stream = self.stream(timeout=(2, 10))
        threading.Timer(0.1, stream.cancel).start()
        start = time.monotonic()
        self.assertEqual(list(stream), [])
        self.assertLess(time.monotonic() - start, 0.6)
        self.assertTrue(stream.cancelled)
        self.assertIsNone(stream.response)  # no head ever came
        self.assertEqual(watcher_threads(), [])

    def test_cancel_of_a_close_delimited_stream(self) -> None:
        self.script(ScriptedResponse.sse(HEAD, stall=True, framing="close"))
        stream = self.stream(timeout=None)
        self.assertLess(self.measure_cancel(stream.cancel, stream), 0.25)

    def test_a_threading_event(self) -> None:
        event = threading.Event()
        stream = self.stream(cancel=event)
        self.assertLess(self.measure_cancel(event.set, stream), 0.25)

    def test_an_event_set_before_the_start(self) -> None:
        event = threading.Event()
        event.set()
        with self.stream(cancel=event) as stream:
            self.assertEqual(list(stream), [])
        self.assertTrue(stream.cancelled)
        self.assertEqual(watcher_threads(), [])

    def test_keyboard_interrupt_in_a_hook(self) -> None:
        def hook(event: ServerSentEvent) -> None:
            if "there" in event.data:
                raise KeyboardInterrupt

        received = []
        with self.assertRaises(KeyboardInterrupt):
            with self.stream(on_event=hook) as stream:
                for text in stream:
                    received.append(text)
        self.assertEqual(received, ["Hello"])
        self.assertEqual(stream.completion.text, "Hello there")
        self.assertTrue(stream.cancelled)
        self.assert_released(stream)

    def test_keyboard_interrupt_in_the_loop(self) -> None:
        stream = self.stream()
        with self.assertRaises(KeyboardInterrupt):
            with stream:
                for text in stream:
                    if text == " there":
                        raise KeyboardInterrupt
        self.assertEqual(stream.completion.text, "Hello there")
        self.assertTrue(stream.cancelled)
        self.assert_released(stream)

    def test_cancel_during_a_retry_wait(self) -> None:
        self.script(ScriptedResponse.json({"error": "busy"}, status=503, retry_after=30))
        stream = self.stream(retry=3, cancel=threading.Event())
        threading.Timer(0.2, stream.cancel).start()
        start = time.monotonic()
        with self.assertLogs("ssekit", "WARNING"):
            self.assertEqual(list(stream), [])
        self.assertLess(time.monotonic() - start, 1)
        self.assertTrue(stream.cancelled)
        self.assertEqual(len(self.server.requests), 1)

    def test_cancel_after_the_end_changes_nothing(self) -> None:
        self.script(ScriptedResponse.sse(CHAT))
        with self.stream() as stream:
            list(stream)
        stream.cancel()
        self.assertFalse(stream.cancelled)
        self.assertTrue(stream.completion.complete)

    def break_streams(self, leave: Callable[[CompletionStream], None]) -> None:
        """Open 1 + scaled(300) stalled streams, stop each with *leave* after its first text: no fd or thread may remain."""
        leave(self.stream(cancel=threading.Event()))  # warm up: imports, lazily opened files
        self.assertTrue(settle(lambda: not server_threads()))
        fds, threads = open_fds(), threading.active_count()
        count = scaled(300)
        for number in range(count):
            stream = self.stream(cancel=threading.Event() if number % 10 == 0 else None)
            leave(stream)
            self.assertTrue(stream.cancelled)
        self.assertTrue(settle(lambda: open_fds() <= fds), "fds: %d before, %d after" % (fds, open_fds()))
        self.assertTrue(settle(lambda: threading.active_count() <= threads), threading.enumerate())
        self.assertEqual(len(self.server.requests), 1 + count)

    @unittest.skipUnless(HAS_PROC_FD, "needs /proc/self/fd")
    @cpython_only(REFCOUNT_REASON)
    def test_broken_streams_leave_no_fd_or_thread(self) -> None:
        def bare_break(stream: CompletionStream) -> None:
            for _ in stream:
                break

        self.break_streams(bare_break)

    @unittest.skipUnless(HAS_PROC_FD, "needs /proc/self/fd")
    def test_streams_left_by_break_in_a_with_block_leave_no_fd_or_thread(self) -> None:
        def break_in_with(stream: CompletionStream) -> None:
            with stream:
                for _ in stream:
                    break

        self.break_streams(break_in_with)


class Timeouts(StreamTestCase):
    def test_read_timeout_after_output(self) -> None:
        self.script(ScriptedResponse.sse(HEAD, stall=True))
        received = []
        start = time.monotonic()
        with self.assertRaises(StreamTimeoutError) as caught:
            with self.stream(timeout=(2, 0.3)) as stream:
                received.extend(stream)
        self.assertTrue(0.3 <= time.monotonic() - start < 1.5)
        self.assertEqual(received, ["Hello", " there"])
        self.assertEqual(caught.exception.partial.text, "Hello there")
        self.assertIn("not retried", str(caught.exception))
        self.assertEqual(len(self.server.requests), 1)
        self.assert_released(stream)

    def test_keep_alive_comments_count_as_bytes(self) -> None:
        chunks = HEAD + [0.1, b": keep-alive\n\n"] * 6 + CHAT[3:]  # 0.6 s in all, silences of 0.1 s
        self.script(ScriptedResponse.sse(chunks))
        with self.stream(timeout=(2, 0.3)) as stream:
            self.assertEqual("".join(stream), TEXT)

    def test_a_timeout_before_any_output_is_retried(self) -> None:
        self.script(ScriptedResponse.sse([], stall=True), ScriptedResponse.sse(CHAT))
        with self.assertLogs("ssekit", "WARNING") as logs:
            with self.stream(timeout=(2, 0.3)) as stream:
                self.assertEqual("".join(stream), TEXT)
        self.assertEqual(len(self.server.requests), 2)
        self.assertIn("no data", logs.output[0])

    def test_deadline_on_a_never_ending_stream(self) -> None:
        forever = [CHAT[1]] + [0.05, b": keep-alive\n\n"] * 200
        self.script(ScriptedResponse.sse(forever))
        start = time.monotonic()
        with self.assertRaises(StreamTimeoutError) as caught:
            with self.stream(deadline=0.5, timeout=(2, 5)) as stream:
                list(stream)
        overshoot = time.monotonic() - start - 0.5
        self.assertTrue(0 <= overshoot < 0.2, overshoot)
        self.assertIn("deadline", str(caught.exception))
        self.assertEqual(caught.exception.partial.text, "Hello")
        self.assert_released(stream)

    def test_deadline_while_waiting_for_the_response_head(self) -> None:
        def slow(request: RecordedRequest) -> ScriptedResponse:
            time.sleep(0.6)
            return ScriptedResponse.sse(CHAT)

        self.server.route("/v1/chat/completions", slow)
        start = time.monotonic()
        with self.assertRaises(StreamTimeoutError) as caught:
            list(self.stream(deadline=0.3, timeout=None))
        self.assertTrue(0.3 <= time.monotonic() - start < 0.6)
        self.assertIsNotNone(caught.exception.partial)

    def test_deadline_bounds_the_retry_waits(self) -> None:
        self.script(ScriptedResponse.json({"error": "busy"}, status=503, retry_after=5))
        start = time.monotonic()
        with self.assertLogs("ssekit", "WARNING"), self.assertRaises(APIStatusError) as caught:
            list(self.stream(deadline=1.0, retry=3))
        self.assertLess(time.monotonic() - start, 0.5)
        self.assertEqual(caught.exception.status_code, 503)
        self.assertEqual(len(self.server.requests), 1)


class Retries(StreamTestCase):
    def test_server_errors_before_output_are_retried(self) -> None:
        self.script(
            ScriptedResponse.json({"error": {"message": "overloaded"}}, status=503),
            ScriptedResponse.text("<title>502 Bad Gateway</title>", status=502),
            ScriptedResponse.sse(CHAT),
        )
        with self.assertLogs("ssekit", "WARNING") as logs:
            with self.stream() as stream:
                self.assertEqual("".join(stream), TEXT)
        self.assertEqual(len(self.server.requests), 3)
        self.assertEqual(len(logs.records), 2)
        self.assertIn("503", logs.output[0])
        self.assertIn("overloaded", logs.output[0])
        self.assertIn("Bad Gateway", logs.output[1])

    def test_retry_after_is_honoured(self) -> None:
        # (an HTTP-date Retry-After is tested in test_control, with plain requests)
        self.script(ScriptedResponse.json({"error": "slow down"}, status=429, retry_after=0.4), ScriptedResponse.sse(CHAT))
        start = time.monotonic()
        with self.assertLogs("ssekit", "WARNING") as logs:
            self.assertEqual("".join(self.stream(retry=2)), TEXT)
        self.assertGreaterEqual(time.monotonic() - start, 0.4)
        wait = float(re.search(r"retrying in ([0-9.]+) s", logs.output[0]).group(1))  # type: ignore[union-attr]
        self.assertTrue(0.4 <= wait <= 0.5, logs.output[0])  # Retry-After, or the first wait's jitter if longer

    def test_a_cut_before_any_output_is_retried(self) -> None:
        # The role chunk carries no text, so nothing reached the caller before the cut.
        self.script(ScriptedResponse.sse(CHAT[:1], cut_after=len(CHAT[0]) + 10), ScriptedResponse.sse(CHAT))
        with self.assertLogs("ssekit", "WARNING"):
            self.assertEqual(list(self.stream()), PIECES)
        self.assertEqual(len(self.server.requests), 2)

    def test_the_same_cut_is_not_retried_once_events_reached_the_caller(self) -> None:
        self.script(ScriptedResponse.sse(CHAT[:1], cut_after=len(CHAT[0]) + 10), ScriptedResponse.sse(CHAT))
        with self.assertRaises(IncompleteStreamError):
            list(self.stream().events())
        self.assertEqual(len(self.server.requests), 1)

    def test_a_cut_after_output_raises_with_the_partial_text(self) -> None:
        self.script(ScriptedResponse.sse(CHAT, cut_after=sum(map(len, HEAD)) + 10), ScriptedResponse.sse(CHAT))
        received = []
        with self.assertRaises(IncompleteStreamError) as caught:
            with self.stream() as stream:
                received.extend(stream)
        self.assertNotIsInstance(caught.exception, StreamTimeoutError)
        self.assertEqual(received, ["Hello", " there"])
        self.assertEqual(caught.exception.partial.text, "Hello there")
        self.assertIn(".partial", str(caught.exception))
        self.assertIn("not retried", str(caught.exception))
        self.assertEqual(len(self.server.requests), 1)

    def test_client_errors_are_not_retried(self) -> None:
        self.script(ScriptedResponse.json({"error": {"message": "bad model"}}, status=400))
        with self.assertRaises(APIStatusError) as caught:
            list(self.stream(retry=5))
        self.assertEqual(caught.exception.status_code, 400)
        self.assertEqual(len(self.server.requests), 1)

    def test_a_malformed_url_is_not_retried(self) -> None:
        records = []  # type: List[logging.LogRecord]
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logging.getLogger("ssekit").addHandler(handler)
        self.addCleanup(logging.getLogger("ssekit").removeHandler, handler)
        with self.assertRaises(InvalidRequestError):
            list(stream_completion("localhost/v1?key=SECRET", json={"stream": True}, retry=5))
        self.assertEqual(records, [])

    def test_the_last_failure_is_raised_when_retries_run_out(self) -> None:
        self.script(ScriptedResponse.json({"error": "down"}, status=502))
        with self.assertLogs("ssekit", "WARNING"), self.assertRaises(APIStatusError) as caught:
            list(self.stream(retry=Retry(total=2, backoff_factor=0.01)))
        self.assertEqual(caught.exception.status_code, 502)
        self.assertEqual(len(self.server.requests), 3)

    def test_int_retry_counts(self) -> None:
        self.script(ScriptedResponse.json({"error": "down"}, status=500), ScriptedResponse.sse(CHAT))
        with self.assertLogs("ssekit", "WARNING"):
            self.assertEqual("".join(self.stream(retry=1)), TEXT)
        self.script(ScriptedResponse.json({"error": "down"}, status=500), ScriptedResponse.sse(CHAT))
        with self.assertRaises(APIStatusError):
            list(self.stream(retry=0))

    def test_connection_refused(self) -> None:
        self.server.close()
        with self.assertLogs("ssekit", "WARNING") as logs, self.assertRaises(StreamConnectionError) as caught:
            list(self.stream())
        self.assertEqual(len(logs.records), 2)
        self.assertIsNotNone(caught.exception.partial)


class Secrets(StreamTestCase):
    def assert_secret_free(self, *texts: str) -> None:
        for text in texts:
            self.assertNotIn(SECRET, text)
            self.assertNotIn("Authorization", text)

    def test_keys_stay_out_of_reprs_errors_and_logs(self) -> None:
        self.script(
            ScriptedResponse.json({"error": "down"}, status=503),
            ScriptedResponse.sse(HEAD, cut_after=sum(map(len, HEAD))),
        )
        url = self.server.url("/v1/chat/completions?api_key=" + SECRET)
        stream = stream_completion(url, json={}, api_key=SECRET, retry=FAST, timeout=2)
        with self.assertLogs("ssekit", "DEBUG") as logs, self.assertRaises(IncompleteStreamError) as caught:
            with stream:
                self.assert_secret_free(repr(stream))
                list(stream)
        self.assertEqual(self.server.requests[0].headers["Authorization"], "Bearer " + SECRET)
        self.assertGreaterEqual(len(logs.records), 2)  # the retry warning, the debug line of the 200
        self.assert_secret_free(repr(stream), str(caught.exception), repr(caught.exception), "\n".join(logs.output))

    def test_a_rejected_key_is_not_echoed(self) -> None:
        self.script(ScriptedResponse.json({"error": {"message": "Incorrect API key provided"}}, status=401))
        with self.assertRaises(APIStatusError) as caught:
            list(stream_completion(self.url, json={}, api_key=SECRET))
        self.assert_secret_free(str(caught.exception), repr(caught.exception))
        self.assertIsInstance(caught.exception, SSEKitError)


if __name__ == "__main__":
    unittest.main()
