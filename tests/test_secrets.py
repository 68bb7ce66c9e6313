"""Keys stay home and server text is defanged: the origin rule for key headers, one redaction, escaping."""
import logging
import unittest

import requests

from ssekit import APIStatusError, ContentTypeError, SSEKitError, StreamError, connect_sse, follow_sse, stream_completion
from ssekit._text import Secrets, printable, redact_url
from ssekit.http import KEY_HEADERS, _REDIRECTS
from ssekit.testing.builders import generation_events, sse_event
from ssekit.testing.server import ScriptedResponse, SSEServer

KEY = "sk-live-SECRET-0123456789"


class SecretsUnit(unittest.TestCase):
    def test_every_credential_source_is_known(self) -> None:
        secrets = Secrets.of_request(
            {"Authorization": "Bearer " + KEY},
            {"X-Goog-Api-Key": "goog-" + KEY, "X-Other": "not-a-secret-value"},
            url="https://user:pa55word-xyz@host/v1?key=query-" + KEY + "&model=m",
            auth=("me", "basic-" + KEY),
        )
        text = "a %s b goog-%s c query-%s d basic-%s e pa55word-xyz f not-a-secret-value" % ((KEY,) * 4)
        redacted = secrets.redact(text)
        self.assertNotIn(KEY, redacted)
        self.assertNotIn("pa55word", redacted)
        self.assertIn("not-a-secret-value", redacted)
        self.assertNotIn(KEY, repr(secrets))

    def test_redact_value_any_depth_and_keys(self) -> None:
        deep = [KEY]  # type: object
        for _ in range(50000):
            deep = {"k": deep}
        secrets = Secrets([KEY])
        value = secrets.redact_value({"message": "bad " + KEY, KEY: 1, "deep": deep})
        self.assertEqual(value["message"], "bad [redacted]")
        self.assertIn("[redacted]", value)
        node = value["deep"]
        while isinstance(node, dict):
            node = node["k"]
        self.assertEqual(node, ["[redacted]"])

    def test_short_values_are_not_secrets(self) -> None:
        self.assertEqual(Secrets(["ab"]).redact("abc ab"), "abc ab")

    def test_printable_escapes_every_control(self) -> None:
        for char in "\x1b\x07\x00\r\n\x7f\x9b\u202e\u2066\u200b\ufeff":
            with self.subTest(char=char):
                out = printable("a%sb" % char)
                self.assertNotIn(char, out)
                self.assertTrue(out.isprintable(), out)
        self.assertEqual(printable("caf\u00e9 \u2603 \\ '"), "caf\u00e9 \u2603 \\ '")
        self.assertEqual(printable("x" * 10, 4), "xxxx...")

    def test_redact_url_never_raises(self) -> None:
        for url in ("http://127.0.0.1:99999/v1", "http://h:8o8o/", "http://[::1/x", "::", ""):
            with self.subTest(url=url):
                self.assertIsInstance(redact_url(url), str)
        self.assertEqual(redact_url("https://u:p@h:8443/v1?key=" + KEY), "https://h:8443/v1?...")

    def test_origin_rule(self) -> None:
        strip = _REDIRECTS.should_strip_auth
        self.assertTrue(strip("https://h/v1", "http://h/v1"), "https -> http downgrade")
        self.assertTrue(strip("http://h:8000/v1", "http://h:8001/v1"), "another port")
        self.assertTrue(strip("http://h/v1", "http://other/v1"), "another host")
        self.assertFalse(strip("http://h:8000/a", "http://h:8000/b"), "same origin")
        self.assertIn("x-goog-api-key", KEY_HEADERS)


class KeyHeadersFollowTheOrigin(unittest.TestCase):
    """x-api-key and its kin are dropped on a redirect to another port, as requests drops Authorization."""

    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.other = SSEServer().start()  # same host, another port: another origin
        self.addCleanup(self.server.close)
        self.addCleanup(self.other.close)
        self.other.script("/v1", ScriptedResponse.sse(generation_events("Hi")))

    def test_other_port_gets_no_key_header(self) -> None:
        for name in KEY_HEADERS + ("Authorization",):
            with self.subTest(header=name):
                self.server.script("/r", ScriptedResponse(status=307, headers={"Location": self.other.url("/v1")}))
                value = KEY if name != "Authorization" else "Bearer " + KEY
                with stream_completion(self.server.url("/r"), json={}, headers={name: value}, retry=0) as stream:
                    self.assertEqual("".join(stream), "Hi")
                self.assertEqual(self.server.requests[-1].headers.get(name), value)
                self.assertIsNone(self.other.requests[-1].headers.get(name))
                self.assertNotIn(KEY, str(self.other.requests[-1].headers))

    def test_same_origin_keeps_the_key_header(self) -> None:
        self.server.script("/v1", ScriptedResponse.sse(generation_events("Hi")))
        self.server.script("/r", ScriptedResponse(status=308, headers={"Location": "/v1"}))
        with requests.Session() as session:
            with connect_sse(session, "POST", self.server.url("/r"), headers={"x-api-key": KEY}, timeout=(2, 2)) as source:
                self.assertEqual(len(list(source.iter_sse())), 4)
        self.assertEqual([r.headers.get("x-api-key") for r in self.server.requests], [KEY, KEY])

    def test_hostile_location_keeps_keys_and_raises_an_ssekit_error(self) -> None:
        self.server.script("/r", ScriptedResponse(status=307, headers={"Location": "http://[::1/x"}))
        with self.assertRaises(SSEKitError):
            with stream_completion(self.server.url("/r"), json={}, headers={"x-api-key": KEY}, retry=0) as stream:
                list(stream)


class EchoedKeysAreRedacted(unittest.TestCase):
    """A server that quotes the key back never gets it into a message, a body, a preview or a log line."""

    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)
        self.records = []  # type: list
        handler = logging.Handler()
        handler.emit = self.records.append  # type: ignore[assignment]
        logger = logging.getLogger("ssekit")
        logger.addHandler(handler)
        self.addCleanup(logger.removeHandler, handler)

    def echo(self, status: int, content_type: str = "json") -> None:
        def answer(request):  # type: ignore[no-untyped-def]
            keys = " ".join(v for k, v in request.headers.items() if k.lower() in ("authorization", "x-api-key"))
            if content_type == "html":
                return ScriptedResponse.text("<title>Your key %s</title>" % keys, content_type="text/html")
            if content_type == "event":
                return ScriptedResponse.sse([sse_event({"type": "error", "message": "bad key " + keys})])
            return ScriptedResponse.json({"error": {"message": "bad key " + keys, "key": keys}}, status=status, retry_after=0)
        self.server.route("/v1", answer)

    def assert_clean(self, error: BaseException) -> None:
        seen = [str(error), repr(error), repr(error.args), repr(vars(error))]
        seen += [record.getMessage() for record in self.records]
        for text in seen:
            self.assertNotIn(KEY, text)

    def run_stream(self, **options: object) -> SSEKitError:
        with self.assertRaises(SSEKitError) as caught:
            with stream_completion(self.server.url("/v1"), json={}, **options) as stream:  # type: ignore[arg-type]
                list(stream)
        return caught.exception

    def test_retried_429_is_redacted_in_the_log_and_the_error(self) -> None:
        self.echo(429)
        error = self.run_stream(api_key=KEY, retry=2)
        self.assertIsInstance(error, APIStatusError)
        self.assertEqual(len([r for r in self.records if r.levelno == logging.WARNING]), 2)
        self.assertIn("[redacted]", str(error))
        self.assert_clean(error)

    def test_key_in_session_headers(self) -> None:
        self.echo(503)
        with requests.Session() as session:
            session.headers["x-api-key"] = KEY
            error = self.run_stream(session=session, retry=1)
        self.assert_clean(error)

    def test_html_preview_and_in_stream_error(self) -> None:
        for kind, expected in (("html", ContentTypeError), ("event", StreamError)):
            with self.subTest(kind=kind):
                self.echo(200, kind)
                error = self.run_stream(api_key=KEY, retry=0)
                self.assertIsInstance(error, expected)
                self.assert_clean(error)

    def test_follow_sse_redacts(self) -> None:
        self.echo(401)
        with requests.Session() as session:
            with self.assertRaises(APIStatusError) as caught:
                list(follow_sse(session, self.server.url("/v1"), headers={"Authorization": "Bearer " + KEY}, timeout=(2, 2)))
        self.assert_clean(caught.exception)


class ServerTextIsEscaped(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)

    def test_error_messages_hold_no_control_characters(self) -> None:
        hostile = "evil\x1b]0;owned\x07\r\nssekit: fake line\x1b[2J"
        cases = {
            "/json": ScriptedResponse.json({"error": {"message": hostile}}, status=400),
            "/html": ScriptedResponse.text("<title>%s</title>" % hostile, status=500, content_type="text/html"),
            "/event": ScriptedResponse.sse([sse_event({"type": "error", "message": hostile})]),
            "/type": ScriptedResponse.text("x", content_type="text/plain\x1b[31m"),
        }
        for path, response in cases.items():
            with self.subTest(path=path):
                self.server.script(path, response)
                with self.assertRaises(SSEKitError) as caught:
                    with stream_completion(self.server.url(path), json={}, retry=0) as stream:
                        list(stream)
                message = str(caught.exception)
                self.assertTrue(message.isprintable(), repr(message))
                self.assertNotIn("\x1b", message)


if __name__ == "__main__":
    unittest.main()
