"""The retry loop (ssekit.attempts over urllib3 Retry), deadlines and the cancel watcher."""
import email.utils
import threading
import time
import unittest
from typing import List, Optional

import requests
from urllib3.util.retry import Retry

import ssekit
from ssekit import APIStatusError, Completion, IncompleteStreamError, SSEKitError, StreamTimeoutError, connect_sse
from ssekit.control import (
    DEFAULT_JITTER,
    Attempt,
    attempts,
    bounded_timeout,
    deadline_at,
    next_policy,
    retry_delay,
    retry_policy,
    watching,
)
from ssekit.errors import StreamConnectionError
from ssekit.testing.server import ScriptedResponse, SSEServer

FAST = Retry(total=3, backoff_factor=0.01)  # tests keep the waits short


def status_error(status: int, retry_after: Optional[float] = None) -> APIStatusError:
    return APIStatusError("HTTP %d from POST http://x/" % status, status_code=status, retry_after=retry_after)


class Policy(unittest.TestCase):
    def test_int_gives_that_many_retries_over_the_usual_statuses(self) -> None:
        policy = retry_policy(2)
        self.assertEqual(policy.total, 2)
        for status in (408, 409, 429, 500, 502, 503, 504, 599):
            self.assertTrue(policy.is_retry("POST", status), status)
        for status in (400, 401, 403, 404, 413, 422):
            self.assertFalse(policy.is_retry("POST", status), status)

    def test_a_retry_keeps_its_counts_and_statuses_and_retries_posts(self) -> None:
        policy = retry_policy(Retry(total=5, backoff_factor=3, status_forcelist=[418]))
        self.assertEqual((policy.total, policy.backoff_factor), (5, 3))
        self.assertTrue(policy.is_retry("POST", 418))
        self.assertFalse(policy.is_retry("POST", 503))
        self.assertTrue(retry_policy(Retry(total=1)).is_retry("POST", 503))  # empty forcelist: ssekit's

    def test_bad_values_are_refused(self) -> None:
        for value in (-1, "3", 1.5, True):
            with self.assertRaises(SSEKitError):
                retry_policy(value)  # type: ignore[arg-type]
        self.assertEqual(retry_policy(None).total, 0)

    def test_counts_run_out(self) -> None:
        policy = retry_policy(1)
        error = StreamConnectionError("could not connect")
        policy = next_policy(policy, error)
        self.assertIsNotNone(policy)
        self.assertIsNone(next_policy(policy, error))

    def test_separate_counts_of_a_retry_apply(self) -> None:
        policy = retry_policy(Retry(total=10, connect=0, read=5))
        self.assertIsNone(next_policy(policy, StreamConnectionError("refused")))
        self.assertIsNotNone(next_policy(policy, StreamTimeoutError("silence")))
        self.assertIsNotNone(next_policy(policy, IncompleteStreamError("cut")))

    def test_other_failures_are_not_retried(self) -> None:
        policy = retry_policy(5)
        self.assertIsNone(next_policy(policy, ValueError("bug")))
        self.assertIsNone(next_policy(policy, status_error(400)))
        self.assertIsNone(next_policy(policy, ssekit.StreamError("model error")))

    def test_backoff_is_urllib3_exponential(self) -> None:
        policy = retry_policy(Retry(total=10, backoff_factor=1))
        delays = []
        for _ in range(4):
            policy = next_policy(policy, StreamConnectionError("refused"))
            delays.append(retry_delay(policy, StreamConnectionError("refused")))
        for delay, expected in zip(delays, [0, 2, 4, 8]):
            self.assertGreaterEqual(delay, expected)
            self.assertLessEqual(delay, expected + DEFAULT_JITTER)

    def test_int_policy_has_jitter(self) -> None:
        delays = set()
        for _ in range(20):
            policy = retry_policy(5)
            for _ in range(2):
                policy = next_policy(policy, StreamTimeoutError("silence"))
            delays.add(retry_delay(policy, StreamTimeoutError("silence")))
        self.assertGreater(len(delays), 10, "no jitter")
        self.assertTrue(all(1.0 <= delay <= 1.0 + DEFAULT_JITTER for delay in delays), delays)

    def test_retry_after_wins_when_longer_and_is_capped(self) -> None:
        policy = next_policy(retry_policy(3), status_error(429, 7.0))
        self.assertEqual(retry_delay(policy, status_error(429, 7.0)), 7.0)
        self.assertEqual(retry_delay(policy, status_error(429, 7000.0), max_retry_after=30), 30)
        ignoring = next_policy(retry_policy(Retry(total=3, respect_retry_after_header=False)), status_error(503, 7.0))
        self.assertLess(retry_delay(ignoring, status_error(503, 7.0)), 1)


class Deadlines(unittest.TestCase):
    def test_timeout_parts_are_cut_to_the_deadline(self) -> None:
        end = deadline_at(2.0)
        self.assertIsNone(bounded_timeout(None, None))
        self.assertEqual(bounded_timeout((3, 60), None), (3, 60))
        connect, read = bounded_timeout((1, 60), end)  # type: ignore[misc]
        self.assertEqual(connect, 1)
        self.assertTrue(1.5 < read <= 2.0, read)
        connect, read = bounded_timeout(None, end)  # type: ignore[misc]
        self.assertTrue(1.5 < connect <= 2.0 and 1.5 < read <= 2.0)

    def test_a_passed_deadline_raises_with_what_was_received(self) -> None:
        with self.assertRaises(StreamTimeoutError) as caught:
            bounded_timeout(5, deadline_at(-1))
        self.assertIsNone(caught.exception.partial)
        partial = Completion()
        with self.assertRaises(StreamTimeoutError) as caught:
            Attempt(2, deadline_at(-1)).timeout(5, partial)
        self.assertIs(caught.exception.partial, partial)


class Loop(unittest.TestCase):
    def run_loop(self, failures: List[BaseException], retry: object = FAST, **options: object) -> List[int]:
        """Run attempts() where try n raises failures[n] (if any); return the try numbers seen."""
        seen = []
        for attempt in attempts(retry, **options):  # type: ignore[arg-type]
            with attempt:
                seen.append(attempt.number)
                if len(seen) <= len(failures):
                    raise failures[len(seen) - 1]
        return seen

    def test_first_success_ends_the_loop(self) -> None:
        self.assertEqual(self.run_loop([]), [1])

    def test_retryable_failures_are_retried_until_success(self) -> None:
        failures = [StreamConnectionError("refused"), status_error(503), StreamTimeoutError("silence")]
        with self.assertLogs("ssekit", "WARNING") as logs:
            self.assertEqual(self.run_loop(failures), [1, 2, 3, 4])
        self.assertEqual(len(logs.records), 3)
        self.assertIn("refused", logs.output[0])
        self.assertIn("HTTP 503", logs.output[1])

    def test_the_last_failure_is_raised_when_retries_run_out(self) -> None:
        last = status_error(502)
        with self.assertRaises(APIStatusError) as caught:
            self.run_loop([status_error(503), last], retry=1)
        self.assertIs(caught.exception, last)

    def test_zero_retries_raise_the_first_failure(self) -> None:
        with self.assertRaises(StreamConnectionError):
            self.run_loop([StreamConnectionError("refused")], retry=0)

    def test_non_retryable_failures_propagate_at_once(self) -> None:
        for failure in (status_error(401), ValueError("bug"), KeyboardInterrupt()):
            with self.assertRaises(type(failure)):
                self.run_loop([failure, failure])

    def test_no_retry_after_commit(self) -> None:
        seen = []
        with self.assertRaises(IncompleteStreamError):
            for attempt in attempts(FAST):
                with attempt:
                    seen.append(attempt.number)
                    attempt.commit()
                    raise IncompleteStreamError("cut after the first event")
        self.assertEqual(seen, [1])

    def test_retry_after_is_waited(self) -> None:
        start = time.monotonic()
        self.assertEqual(self.run_loop([status_error(429, 0.3)]), [1, 2])
        self.assertGreaterEqual(time.monotonic() - start, 0.3)

    def test_retry_after_cap(self) -> None:
        start = time.monotonic()
        self.assertEqual(self.run_loop([status_error(429, 30.0)], max_retry_after=0.1), [1, 2])
        self.assertLess(time.monotonic() - start, 1)

    def test_a_wait_past_the_deadline_raises_at_once(self) -> None:
        start = time.monotonic()
        failure = status_error(503, 20.0)
        with self.assertLogs("ssekit", "WARNING") as logs, self.assertRaises(APIStatusError) as caught:
            self.run_loop([failure], deadline=4.0)
        self.assertIs(caught.exception, failure)
        self.assertLess(time.monotonic() - start, 2.0)  # (not waiting for the deadline: a loaded runner is slow, not 4 s slow)
        self.assertIn("deadline", logs.output[0])

    def test_cancel_during_a_wait_ends_the_loop_quietly(self) -> None:
        cancel = threading.Event()
        threading.Timer(0.1, cancel.set).start()
        start = time.monotonic()
        self.assertEqual(self.run_loop([status_error(503, 10.0)], cancel=cancel), [1])
        self.assertLess(time.monotonic() - start, 1)

    def test_attempt_timeout_is_bounded_by_the_deadline(self) -> None:
        for attempt in attempts(0, deadline=2.0):
            with attempt:
                connect, read = attempt.timeout((0.5, 30))  # type: ignore[misc]
                self.assertEqual(connect, 0.5)
                self.assertLessEqual(read, 2.0)


class LoopOverRealRequests(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)
        self.session = requests.Session()
        self.addCleanup(self.session.close)

    def test_plain_requests_raise_for_status_with_http_date_retry_after(self) -> None:
        when = email.utils.formatdate(time.time() + 1.5, usegmt=True)
        self.server.script(
            "/r",
            ScriptedResponse.json({"error": "busy"}, status=503, retry_after=when),
            ScriptedResponse.json({"ok": True}),
        )
        start = time.monotonic()
        with self.assertLogs("ssekit", "WARNING") as logs:
            for attempt in ssekit.attempts(2):
                with attempt:
                    response = self.session.post(self.server.url("/r?api_key=SECRET"), json={}, timeout=attempt.timeout(5))
                    response.raise_for_status()
        self.assertEqual(response.json(), {"ok": True})
        self.assertEqual(len(self.server.requests), 2)
        self.assertGreaterEqual(time.monotonic() - start, 0.3)  # the date has 1 s resolution
        self.assertIn("HTTP 503", logs.output[0])
        self.assertNotIn("SECRET", "\n".join(logs.output))

    def test_plain_requests_connection_errors_are_retried_without_quoting_the_url(self) -> None:
        url = self.server.url("/gone?api_key=SECRET")
        self.server.close()
        with self.assertLogs("ssekit", "WARNING") as logs, self.assertRaises(requests.ConnectionError):
            for attempt in ssekit.attempts(FAST):
                with attempt:
                    self.session.get(url, timeout=1)
        self.assertEqual(len(logs.records), 3)
        self.assertIn("Connection refused", logs.output[0])
        self.assertNotIn("SECRET", "\n".join(logs.output))

    def test_connect_sse_retried_until_the_stream_opens(self) -> None:
        self.server.script(
            "/s",
            ScriptedResponse.json({"error": {"message": "overloaded"}}, status=529),
            ScriptedResponse.sse([b"data: 1\n\n"], cut_after=0),
            ScriptedResponse.sse([b"data: 1\n\n", b"data: 2\n\n"]),
        )
        received = []
        with self.assertLogs("ssekit", "WARNING") as logs:
            for attempt in ssekit.attempts(FAST):
                with attempt:
                    with connect_sse(self.session, "POST", self.server.url("/s"), timeout=attempt.timeout(5)) as source:
                        for sse in source.iter_sse():
                            attempt.commit()
                            received.append(sse.data)
        self.assertEqual(received, ["1", "2"])
        self.assertEqual(len(self.server.requests), 3)
        self.assertIn("overloaded", logs.output[0])
        self.assertIn("broke", logs.output[1])

    def test_connection_refused_is_retried_then_raised(self) -> None:
        url = self.server.url("/gone")
        self.server.close()
        seen = []
        with self.assertLogs("ssekit", "WARNING"), self.assertRaises(StreamConnectionError):
            for attempt in ssekit.attempts(FAST):
                with attempt:
                    seen.append(attempt.number)
                    with connect_sse(self.session, "GET", url, timeout=1):
                        pass
        self.assertEqual(seen, [1, 2, 3, 4])


class Watcher(unittest.TestCase):
    def test_calls_back_promptly_and_leaves_no_thread(self) -> None:
        before = threading.active_count()
        event = threading.Event()
        called = threading.Event()
        with watching(event, called.set):
            self.assertEqual(threading.active_count(), before + 1)
            start = time.monotonic()
            event.set()
            self.assertTrue(called.wait(1))
            self.assertLess(time.monotonic() - start, 0.2)
        self.assertEqual(threading.active_count(), before)

    def test_stops_without_the_event(self) -> None:
        before = threading.active_count()
        called = []
        with watching(threading.Event(), lambda: called.append(1)):
            pass
        self.assertEqual((threading.active_count(), called), (before, []))
        with watching(None, lambda: called.append(1)):
            self.assertEqual(threading.active_count(), before)


if __name__ == "__main__":
    unittest.main()
