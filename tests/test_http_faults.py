"""The HTTP layer against hostile answers and bad requests: every failure an SSEKitError, at once, complete.

End markers followed by an open connection, hostile charsets and nesting,
hostile ``Retry-After`` values, the connection of a failed attempt, requests
that can never be sent, a finished stream iterated again, TLS failures.
"""
import math
import os
import socket
import ssl
import threading
import time
import unittest
from typing import Any, List

import requests
import urllib3
from urllib3.util.retry import Retry

from ssekit import (
    APIStatusError,
    ContentTypeError,
    SSEKitError,
    StreamConnectionError,
    StreamError,
    connect_sse,
    stream_completion,
)
from ssekit.control import retry_delay, retry_policy
from ssekit.errors import InvalidRequestError
from ssekit.http import parse_retry_after, sendable_event_id
from ssekit.testing.builders import chat_completions_events, messages_events
from ssekit.testing.server import ScriptedResponse, SSEServer

KEY = "sk-SECRET-0123456789abcdef"
CHAT = chat_completions_events("Hello there, world")
MESSAGES = messages_events("Hello there, world")


class ServerTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)
        self.session = requests.Session()
        self.addCleanup(self.session.close)
        self.url = self.server.url("/v1")

    def script(self, *responses: ScriptedResponse) -> None:
        self.server.script("/v1", *responses)


class EndMarker(ServerTestCase):
    def test_a_server_that_stays_open_after_the_end_marker_does_not_hold_the_answer(self) -> None:
        for name, events in (("chat_completions", CHAT), ("messages", MESSAGES)):
            with self.subTest(format=name):
                self.script(ScriptedResponse.sse(events, stall=True))  # no end of body after the end marker
                start = time.monotonic()
                with stream_completion(self.url, json={}, session=self.session, timeout=(2, 3), retry=0) as stream:
                    text = "".join(stream)
                self.assertLess(time.monotonic() - start, 1.5)
                self.assertEqual(text, "Hello there, world")
                self.assertTrue(stream.completion.complete)

    def test_well_behaved_servers_keep_one_connection(self) -> None:
        # (urllib3 before 2.1 has no read1: it never pools a Content-Length stream read as it arrives,
        # with or without ssekit's end-marker handling; checked on 2.0.7 and 1.25.)
        has_read1 = tuple(int(part) for part in urllib3.__version__.split(".")[:2]) >= (2, 1)
        for framing in ("chunked", "length") if has_read1 else ("chunked",):
            with self.subTest(framing=framing):
                self.script(ScriptedResponse.sse(CHAT, framing=framing, interval=0.01))
                before = self.server.connection_count
                for _ in range(5):
                    with stream_completion(self.url, json={}, session=self.session, timeout=(2, 3)) as stream:
                        list(stream)
                self.assertLessEqual(self.server.connection_count - before, 1)


class HostileBodies(ServerTestCase):
    def answers(self) -> List[ScriptedResponse]:
        deep = b"[" * 60000 + b"]" * 60000
        found = []  # type: List[ScriptedResponse]
        for charset in ("bogus", "rot13", "idna", "utf-16", "base64"):
            for status in (200, 500):
                kind = "application/json; charset=%s" % charset
                found.append(ScriptedResponse.text(b'{"error": {"message": "\xff\xfe boom"}}', status=status, content_type=kind))
                found.append(ScriptedResponse.text(b"<p>\xe2\x82 gateway", status=status, content_type="text/html; charset=%s" % charset))
        for status in (200, 429, 500):
            found.append(ScriptedResponse.text(deep, status=status, content_type="application/json"))
            found.append(ScriptedResponse.text(b'{"error":' * 5000 + b"1" + b"}" * 5000, status=status, content_type="application/json"))
        return found

    def test_every_hostile_body_is_an_ssekit_error(self) -> None:
        for answer in self.answers():
            with self.subTest(status=answer.status, content_type=answer.headers["Content-Type"], size=len(answer.chunks[0])):
                self.script(answer)
                with self.assertRaises(SSEKitError) as caught:
                    with stream_completion(self.url, json={}, session=self.session, retry=0, timeout=(2, 3)) as stream:
                        list(stream)
                self.assertIsInstance(caught.exception, (APIStatusError, ContentTypeError, StreamError), caught.exception)
                with self.assertRaises(SSEKitError):
                    with connect_sse(self.session, "POST", self.url, timeout=(2, 3)) as source:
                        list(source.iter_sse())


class RetryAfter(ServerTestCase):
    def test_hostile_values_never_raise(self) -> None:
        for value in ("9" * 5000, "-5", "nan", "1e400", "Wed, 99 Foo 2024", "\x00", "", "  12  ", "inf", "1" * 300):
            with self.subTest(value=value[:20]):
                seconds = parse_retry_after(value)
                self.assertTrue(seconds is None or seconds >= 0, seconds)
        self.assertEqual(parse_retry_after(" 12 "), 12.0)
        self.assertEqual(parse_retry_after("9" * 5000), math.inf)

    def test_an_absurd_retry_after_is_cut_to_max_retry_after(self) -> None:
        self.script(ScriptedResponse.json({"error": "busy"}, status=503, retry_after="9" * 5000), ScriptedResponse.sse(CHAT))
        start = time.monotonic()
        with stream_completion(self.url, json={}, session=self.session, retry=1, max_retry_after=0.2, timeout=(2, 3)) as stream:
            self.assertEqual("".join(stream), "Hello there, world")
        self.assertLess(time.monotonic() - start, 1.5)


class FailedAttempts(ServerTestCase):
    def test_the_connection_of_a_failed_attempt_is_never_reused(self) -> None:
        # 503 with a Content-Length body and no Connection: close, as load balancers answer.
        self.script(ScriptedResponse.json({"error": "busy"}, status=503), ScriptedResponse.sse(CHAT))
        with stream_completion(self.url, json={}, session=self.session, retry=1, timeout=(2, 3)) as stream:
            self.assertEqual("".join(stream), "Hello there, world")
        self.assertEqual(self.server.connection_count, 2)

    def test_the_first_retry_wait_is_jittered(self) -> None:
        policy = retry_policy(3).increment("POST", None, error=StreamConnectionError("x"))
        waits = [retry_delay(policy, StreamConnectionError("x")) for _ in range(50)]
        self.assertTrue(all(0 <= wait <= 0.5 for wait in waits), waits)
        self.assertGreater(len(set(waits)), 10)


class UnsendableRequests(ServerTestCase):
    def assert_refused_up_front(self, **options: Any) -> InvalidRequestError:
        with self.assertRaises(InvalidRequestError) as caught:
            stream_completion(self.url, **dict({"json": {}}, **options))
        return caught.exception

    def test_bad_keyword_values(self) -> None:
        for options in (
            {"deadline": -1}, {"deadline": 0}, {"deadline": "5"}, {"deadline": math.nan},
            {"timeout": "abc"}, {"timeout": (1, 2, 3)}, {"timeout": -1}, {"timeout": (1, "x")},
            {"cancel": True}, {"cancel": "yes"}, {"retry": "2"}, {"retry": -1}, {"retry": True},
            {"json": {"t": math.nan}}, {"json": {"t": math.inf}}, {"json": {1, 2}},
            {"max_event_size": 0}, {"method": 5}, {"on_event": 3},
        ):
            with self.subTest(options=options):
                self.assert_refused_up_front(**options)
        self.assertEqual(self.server.requests, [])

    def test_unsendable_keys_and_headers_are_refused_without_their_value(self) -> None:
        for options in (
            {"api_key": KEY + "\u2019"}, {"headers": {"x-api-key": KEY + "\u65e5"}},
            {"headers": {"Authorization": "Bearer " + KEY + "\n"}}, {"headers": {"X-Other": " " + KEY}},
        ):
            with self.subTest(options=list(options)):
                error = self.assert_refused_up_front(**options)
                for text in (str(error), repr(error), repr(error.args)):
                    self.assertNotIn(KEY, text)

    def test_a_url_that_cannot_be_sent_fails_at_once_without_retries(self) -> None:
        for url in ("http://127.0.0.1:99999/v1", "http://127.0.0.1:8o8o/v1", "ftp://example.com/x", "http:///nohost"):
            with self.subTest(url=url):
                stream = stream_completion(url, json={}, retry=Retry(total=3, backoff_factor=2))
                self.assertIn("CompletionStream", repr(stream))
                start = time.monotonic()
                with self.assertRaises(InvalidRequestError):
                    with stream:
                        list(stream)
                self.assertLess(time.monotonic() - start, 0.5, "retried")  # a retry would wait >= 2 s

    def test_a_finished_stream_cannot_be_read_again(self) -> None:
        self.script(ScriptedResponse.sse(CHAT))
        with stream_completion(self.url, json={}, session=self.session) as stream:
            self.assertEqual("".join(stream), "Hello there, world")
            with self.assertRaises(SSEKitError) as caught:
                list(stream)
            self.assertIn("already read", str(caught.exception))
            with self.assertRaises(SSEKitError):
                list(stream.events())


def _test_certificate() -> str:
    """The self-signed localhost certificate of the standard library's tests (key included)."""
    base = os.path.join(os.path.dirname(unittest.__file__), os.pardir, "test")
    for path in (os.path.join(base, "certdata", "keycert.pem"), os.path.join(base, "keycert.pem")):
        if os.path.exists(path):
            return path
    return ""


class TLSFailures(unittest.TestCase):
    def test_a_certificate_failure_says_why_without_the_query(self) -> None:
        certificate = _test_certificate()
        if not certificate:
            self.skipTest("this Python ships no test certificate")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate)
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)

        def serve() -> None:
            try:
                connection, _ = listener.accept()
                with context.wrap_socket(connection, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass  # the client refuses the certificate: the handshake fails here too

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        url = "https://127.0.0.1:%d/v1?key=%s" % (listener.getsockname()[1], KEY)
        with self.assertRaises(StreamConnectionError) as caught:
            with stream_completion(url, json={}, retry=0, timeout=(2, 2)) as stream:
                list(stream)
        thread.join(5)
        message = str(caught.exception)
        self.assertIn("certificate verify failed", message)
        self.assertNotIn(KEY, message)


class LastEventId(unittest.TestCase):
    def test_unsendable_ids_are_percent_encoded_and_sendable_ones_kept(self) -> None:
        self.assertEqual(sendable_event_id("42"), "42")
        self.assertEqual(sendable_event_id("caf\xe9 1"), "caf\xe9 1")
        self.assertEqual(sendable_event_id("\u65e5\u672c-1"), "%E6%97%A5%E6%9C%AC-1")
        self.assertEqual(sendable_event_id("  spaced"), "%20%20spaced")
        for ident in ("\u20ac42", "a\x01b", "tab\t", "\U0001f600"):
            encoded = sendable_event_id(ident)
            encoded.encode("ascii")
            self.assertEqual(encoded, encoded.strip())


if __name__ == "__main__":
    unittest.main()
