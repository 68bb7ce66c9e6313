"""Errors a script can catch by name: status classes over HTTP, in-stream errors with code, type and retryable."""
import unittest

from ssekit import (APIStatusError, AuthenticationError, OverloadedError, PaymentRequiredError, RateLimitError, StreamError,
                    accumulate, iter_sse, stream_completion)  # fmt: skip
from ssekit.testing.builders import build_events, sse_event
from ssekit.testing.server import ScriptedResponse, SSEServer

OVERLOADED = sse_event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")
QUOTA = sse_event({"error": {"message": "You exceeded your quota", "type": "insufficient_quota", "code": "insufficient_quota"}})


class StatusClasses(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)

    def test_each_status_raises_its_class(self) -> None:
        for status, cls in ((401, AuthenticationError), (402, PaymentRequiredError), (429, RateLimitError), (529, OverloadedError)):
            with self.subTest(status=status):
                self.server.script("/v1", ScriptedResponse.json({"error": {"message": "no"}}, status=status))
                with self.assertRaises(APIStatusError) as caught:
                    with stream_completion(self.server.url("/v1"), json={}, retry=0) as stream:
                        list(stream)
                self.assertIs(type(caught.exception), cls)
                self.assertEqual(caught.exception.status_code, status)


class InStreamErrors(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)

    def test_code_type_and_retryable_from_the_provider(self) -> None:
        with self.assertRaises(StreamError) as caught:
            accumulate(iter_sse([OVERLOADED]), "messages")
        self.assertEqual((caught.exception.type, caught.exception.retryable), ("overloaded_error", True))
        with self.assertRaises(StreamError) as caught:
            accumulate(iter_sse([QUOTA]), "chat_completions")
        self.assertEqual((caught.exception.code, caught.exception.retryable), ("insufficient_quota", False))

    def test_an_overloaded_stream_before_any_output_is_retried(self) -> None:
        answer = build_events("messages", "Hello again.")
        self.server.script("/v1/messages", ScriptedResponse.sse([OVERLOADED]), ScriptedResponse.sse(answer))
        with stream_completion(self.server.url("/v1/messages"), json={}, retry=2) as stream:
            self.assertEqual("".join(stream), "Hello again.")
        self.assertEqual(len(self.server.requests), 2)

    def test_never_after_output_reached_the_caller(self) -> None:
        answer = build_events("messages", "Half")
        self.server.script("/v1/messages", ScriptedResponse.sse(answer[:4] + [OVERLOADED]), ScriptedResponse.sse(answer))
        seen = []
        with self.assertRaises(StreamError) as caught:
            with stream_completion(self.server.url("/v1/messages"), json={}, retry=2) as stream:
                seen.extend(stream)
        self.assertTrue(caught.exception.retryable)
        self.assertEqual("".join(seen), caught.exception.partial.text)
        self.assertEqual(len(self.server.requests), 1)

    def test_a_lasting_in_stream_error_is_not_retried(self) -> None:
        self.server.script("/v1", ScriptedResponse.sse([QUOTA]), ScriptedResponse.sse([QUOTA]))
        with self.assertRaises(StreamError):
            with stream_completion(self.server.url("/v1"), json={}, retry=2) as stream:
                list(stream)
        self.assertEqual(len(self.server.requests), 1)


if __name__ == "__main__":
    unittest.main()
