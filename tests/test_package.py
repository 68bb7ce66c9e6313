"""The package itself: the stdlib-only layers work with requests absent, and the public names exist."""
import subprocess
import sys
import unittest

import ssekit

# Run in a fresh interpreter where importing requests (or urllib3) fails.
WITHOUT_REQUESTS = r"""
import sys
sys.modules["requests"] = None
sys.modules["urllib3"] = None
import ssekit
from ssekit.testing.builders import chat_completions_events
events = list(ssekit.iter_sse(chat_completions_events("Hi there", usage={"prompt_tokens": 1, "completion_tokens": 2})))
completion = ssekit.accumulate(events)
assert completion.text == "Hi there", completion
assert completion.usage.total_tokens == 3, completion.usage
assert "requests" not in sys.modules or sys.modules["requests"] is None
try:
    ssekit.connect_sse
except ImportError:
    print("lazy ok")
"""

SPEC_NAMES = """ServerSentEvent SSEDecoder iter_sse iter_sse_lines connect_sse accumulate
ChatCompletionsAccumulator ResponsesAccumulator MessagesAccumulator GenerationAccumulator
Completion ToolCall Usage stream_completion follow_sse SSEKitError APIStatusError StreamError
IncompleteStreamError StreamTimeoutError BadRequestError AuthenticationError PaymentRequiredError
PermissionDeniedError NotFoundError ConflictError UnprocessableEntityError RateLimitError InternalServerError""".split()


class Package(unittest.TestCase):
    def test_decoder_and_accumulators_work_without_requests(self) -> None:
        result = subprocess.run(
            [sys.executable, "-c", WITHOUT_REQUESTS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60
        )
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertEqual(result.stdout.decode().strip(), "lazy ok")

    def test_every_public_name_of_the_spec_exists(self) -> None:
        for name in SPEC_NAMES:
            self.assertTrue(hasattr(ssekit, name), name)
            self.assertIn(name, ssekit.__all__)
        for name in ssekit.__all__:
            self.assertTrue(hasattr(ssekit, name), name)

    def test_every_error_is_an_ssekit_error(self) -> None:
        errors = [getattr(ssekit, name) for name in ssekit.__all__ if name.endswith("Error")]
        self.assertGreaterEqual(len(errors), 10)
        for error in errors:
            self.assertTrue(issubclass(error, ssekit.SSEKitError), error)

    def test_status_errors_are_api_status_errors_by_status(self) -> None:
        from ssekit.errors import status_error_class

        expected = {400: "BadRequestError", 401: "AuthenticationError", 402: "PaymentRequiredError",
                    403: "PermissionDeniedError", 404: "NotFoundError", 408: "RequestTimeoutError", 409: "ConflictError",
                    413: "RequestTooLargeError", 422: "UnprocessableEntityError", 429: "RateLimitError",
                    500: "InternalServerError", 502: "InternalServerError", 503: "ServiceUnavailableError",
                    504: "GatewayTimeoutError", 529: "OverloadedError", 418: "APIStatusError"}  # fmt: skip
        for status, name in expected.items():
            with self.subTest(status=status):
                cls = status_error_class(status)
                self.assertIs(cls, getattr(ssekit, name))
                self.assertTrue(issubclass(cls, ssekit.APIStatusError))
        self.assertTrue(issubclass(ssekit.OverloadedError, ssekit.InternalServerError))

    def test_stream_timeout_is_an_incomplete_stream(self) -> None:
        self.assertTrue(issubclass(ssekit.StreamTimeoutError, ssekit.IncompleteStreamError))


if __name__ == "__main__":
    unittest.main()
