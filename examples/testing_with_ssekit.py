"""Test your own code that uses ssekit with ssekit.testing: a real local server, exact provider streams, no mocks.

Run it like any unittest file: ``python examples/testing_with_ssekit.py`` (unittest options such as
``-v`` work). Like every example it takes ``--base-url`` and ``--model``: the scripted tests stay local,
and one more test sends the same code to that endpoint (key from ``$SSEKIT_API_KEY``) instead of to
ssekit's embedded gateway. ``SummarizeFromACassette`` replays a recorded exchange (a cassette) under
every chunking and cut.
"""
import os
import shutil
import sys
import tempfile
import unittest
from typing import Optional

from _common import target

import ssekit
from ssekit.testing import DEFAULT_MODEL, Cassette, LocalGateway, ScriptedResponse, SSEServer, build_events, cuts, rechunkings, replay

CHAT_PATH = "/v1/chat/completions"


# --- the code under test (normally in your own package) -------------------------


def summarize(
    base_url: str, document: str, *, model: str = "gpt-4o-mini", api_key: Optional[str] = None, record: Optional[str] = None
) -> str:
    """Ask a model for a one-line summary of *document* and return it (recording the exchange to *record*)."""
    body = {
        "model": model,
        "stream": True,
        "messages": [
            {"role": "system", "content": "Summarize in one line."},
            {"role": "user", "content": document},
        ],
    }
    url = base_url + "/chat/completions"
    with ssekit.stream_completion(url, json=body, api_key=api_key, timeout=(5, 30), retry=2, record=record) as stream:
        return "".join(stream).strip()


# --- its tests ---------------------------------------------------------------------


class SummarizeTests(unittest.TestCase):
    """One real server for the class; each test scripts what it answers."""

    server = None  # type: SSEServer

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = SSEServer().start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()

    def setUp(self) -> None:
        self.base_url = self.server.url("/v1")
        self.sent_before = len(self.server.requests)

    def sent(self) -> int:
        """How many requests this test made."""
        return len(self.server.requests) - self.sent_before

    def test_returns_the_streamed_text_and_sends_the_document(self) -> None:
        self.server.script(CHAT_PATH, ScriptedResponse.sse(build_events("chat_completions", "SSE pushes events.")))
        self.assertEqual(summarize(self.base_url, "A long text about SSE.", api_key="sk-test"), "SSE pushes events.")
        request = self.server.requests[-1]
        self.assertEqual(request.json()["messages"][1]["content"], "A long text about SSE.")
        self.assertEqual(request.headers["Authorization"], "Bearer sk-test")

    def test_a_rate_limit_is_retried(self) -> None:
        self.server.script(
            CHAT_PATH,
            ScriptedResponse.json({"error": {"message": "slow down", "type": "rate_limit_error"}}, status=429, retry_after=0),
            ScriptedResponse.sse(build_events("chat_completions", "Done.")),
        )
        self.assertEqual(summarize(self.base_url, "text"), "Done.")
        self.assertEqual(self.sent(), 2)

    def test_a_cut_stream_raises_with_the_partial_text(self) -> None:
        head = build_events("chat_completions", "Half of the answer")[:3]  # role chunk, "Half", " of"
        self.server.script(CHAT_PATH, ScriptedResponse.sse(head, cut_after=sum(len(chunk) for chunk in head)))
        with self.assertRaises(ssekit.IncompleteStreamError) as caught:
            summarize(self.base_url, "text")
        self.assertEqual(caught.exception.partial.text, "Half of")

    def test_an_error_inside_the_stream_raises_stream_error(self) -> None:
        events = build_events("chat_completions", "Partial", error="The model is overloaded")
        self.server.script(CHAT_PATH, ScriptedResponse.sse(events))
        with self.assertRaises(ssekit.StreamError) as caught:
            summarize(self.base_url, "text")
        self.assertIn("overloaded", str(caught.exception))

    def test_a_bad_request_is_not_retried(self) -> None:
        self.server.script(CHAT_PATH, ScriptedResponse.json({"error": {"message": "bad model"}}, status=400))
        with self.assertRaises(ssekit.APIStatusError) as caught:
            summarize(self.base_url, "text")
        self.assertEqual(caught.exception.status_code, 400)
        self.assertEqual(self.sent(), 1)


class SummarizeFromACassette(unittest.TestCase):
    """A real exchange recorded once, replayed byte for byte under every chunking and cut.

    In your project, record from the provider once (``summarize(..., record="tests/cassettes/summary.jsonl")``
    or ``ssekit record``) and commit the file; here it is recorded from the embedded gateway.
    """

    DOCUMENT = "A long text about server-sent events."
    SUMMARY = "SSE pushes text over one HTTP response."
    folder = cassette = ""

    @classmethod
    def setUpClass(cls) -> None:
        cls.folder = tempfile.mkdtemp(prefix="cassettes-")
        cls.cassette = os.path.join(cls.folder, "summary.jsonl")
        with LocalGateway(answer=cls.SUMMARY, pace=0.002) as gateway:
            summarize(gateway.base_url, cls.DOCUMENT, api_key="sk-recorded", record=cls.cassette)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.folder)

    def test_same_summary_under_every_chunking(self) -> None:
        for label, cassette in rechunkings(self.cassette):
            with self.subTest(label), replay(cassette, match=["model", "messages"]) as server:
                self.assertEqual(summarize(server.base_url + "/v1", self.DOCUMENT), self.SUMMARY)

    def test_a_cut_raises_with_the_partial_text(self) -> None:
        size = len(Cassette.load(self.cassette).body)
        for offset, cassette in cuts(self.cassette, [size // 2, size - 30]):
            with self.subTest(offset=offset), replay(cassette) as server:
                with self.assertRaises(ssekit.IncompleteStreamError) as caught:
                    summarize(server.base_url + "/v1", self.DOCUMENT)
                self.assertTrue(self.SUMMARY.startswith(caught.exception.partial.text))


class SummarizeAgainstAnEndpoint(unittest.TestCase):
    """The same code against a whole endpoint: ``--base-url`` / ``--model``, else the embedded gateway."""

    base_url = None  # type: Optional[str]
    model = DEFAULT_MODEL
    gateway = None  # type: Optional[LocalGateway]

    @classmethod
    def setUpClass(cls) -> None:
        if cls.base_url is None:  # loaded by a test runner rather than run as a script
            cls.gateway = LocalGateway().start()
            cls.base_url = cls.gateway.base_url

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.gateway is not None:
            cls.gateway.close()

    def test_summarize_returns_text(self) -> None:
        assert self.base_url is not None
        summary = summarize(self.base_url, "Server-sent events push text over one HTTP response.", model=self.model)
        self.assertTrue(summary.strip())


if __name__ == "__main__":
    with target(__doc__.splitlines()[0], pace=0, pass_on=True) as where:
        SummarizeAgainstAnEndpoint.base_url, SummarizeAgainstAnEndpoint.model = where.base_url, where.model
        program = unittest.main(argv=sys.argv[:1] + where.rest, exit=False)
    sys.exit(not program.result.wasSuccessful())
