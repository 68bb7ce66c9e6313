"""stream_completion(resume=...): a broken stream continued where it broke, through the local gateway.

Every cut position of a short answer is tried: each event boundary and three
places inside each event (its first byte, its middle, its last byte). The
resumed text must equal the unbroken run's, no event may come twice, none may
be lost, and ``Completion.resumed`` says how often the stream was continued.
"""
import json
import threading
import unittest
from typing import Any, Dict, Iterator, List, Tuple

from urllib3.util.retry import Retry

import ssekit
from ssekit._text import NO_SECRETS
from ssekit.control import Attempt, deadline_at
from ssekit.errors import IncompleteStreamError, InvalidRequestError, StreamGapError, StreamTimeoutError
from ssekit.formats.responses import ResponsesCursor
from ssekit.http import Interrupter
from ssekit.resume import fetch_json
from ssekit.sse import iter_sse
from ssekit.testing import builders
from ssekit.testing.gateway import LocalGateway, sample_request
from ssekit.testing.server import ScriptedResponse, SSEServer

from .support import closing_session

ANSWER = "Resumed streams lose nothing, twice over."
#: Retries without backoff growth (a cut before any event is retried after jitter only).
NO_BACKOFF = Retry(total=3, backoff_factor=0)


def cut_positions(events: List[bytes]) -> Iterator[Tuple[str, int, int]]:
    """(where, event, byte in it): every event boundary, and the first, middle and last byte inside every event."""
    for number, event in enumerate(events):
        yield "boundary before event %d" % number, number, 0
        for name, inside in (("first byte", 1), ("middle", len(event) // 2), ("last byte", len(event) - 1)):
            yield "%s of event %d" % (name, number), number, inside


def answer_of(completion: ssekit.Completion) -> Dict[str, Any]:
    """Everything of a completion but its id (each request to the gateway gets a new one) and ``resumed``."""
    fields = dict(completion.to_dict())
    del fields["id"], fields["resumed"]  # type: ignore[misc]
    return fields


def unbroken(gateway: LocalGateway, format: str, body: Dict[str, Any]) -> Tuple[ssekit.Completion, List[bytes]]:
    """The answer streamed without a break, and its events as bytes (recorded from a plain read)."""
    with closing_session() as session:
        with ssekit.connect_sse(session, "POST", gateway.url(format), json=body) as source:
            events = [event.encode() for event in source.iter_sse()]
    return ssekit.accumulate(iter_sse(events), format=format), events


class BackgroundResponses(unittest.TestCase):
    """OpenAI Responses background mode: ``starting_after`` the last ``sequence_number``."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.gateway = LocalGateway(answer=ANSWER).start()
        cls.url = cls.gateway.url("responses")
        cls.body = dict(sample_request("responses"), background=True)
        cls.expected, cls.events = unbroken(cls.gateway, "responses", cls.body)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.gateway.close()

    def setUp(self) -> None:
        self.gateway.resume_window = 300.0
        self.gateway.pending_polls = 0

    def stream(self, **options: Any) -> ssekit.CompletionStream:
        options.setdefault("resume", True)
        options.setdefault("retry", NO_BACKOFF)
        return ssekit.stream_completion(self.url, json=self.body, timeout=(5, 10), **options)

    def asked(self, stream: ssekit.CompletionStream, before: int) -> List[Tuple[str, str]]:
        """(method, query) of the requests since the *before*-th that made *stream*'s answer: its POST and those naming its id
        (a poll that an earlier test timed out or cancelled can be recorded by the server after that test ended)."""
        answer_id = stream.completion.id
        assert answer_id
        mine = [request for request in self.gateway.requests[before:] if request.method == "POST" or answer_id in request.path]
        return [(request.method, request.query) for request in mine]

    def test_a_cut_anywhere_is_resumed_with_every_event_once(self) -> None:
        tried = 0
        for where, event, offset in cut_positions(self.events):
            with self.subTest(where=where):
                self.gateway.cut_next(at_event=event, at_byte=offset)
                with self.stream() as stream:
                    numbers = [json.loads(event.data)["sequence_number"] for event in stream.events()]
                self.assertEqual(numbers, list(range(len(self.events))))  # none twice, none lost, in order
                self.assertEqual(answer_of(stream.completion), answer_of(self.expected))
                self.assertTrue(stream.completion.complete)
                # A cut inside the first event leaves no id to resume from: the request is sent again.
                self.assertEqual(stream.completion.resumed, 0 if event == 0 else 1)
                tried += 1
        self.assertEqual(tried, 4 * len(self.events))

    def test_the_text_of_a_resumed_stream_is_the_unbroken_text(self) -> None:
        for where, event, offset in list(cut_positions(self.events))[4::3]:
            with self.subTest(where=where):
                self.gateway.cut_next(at_event=event, at_byte=offset)
                with self.stream() as stream:
                    text = "".join(stream)
                self.assertEqual(text, ANSWER)
                self.assertEqual(stream.completion.text, ANSWER)

    def test_the_continuation_can_break_too(self) -> None:
        self.gateway.cut_next(at_event=5, at_byte=7, times=3)
        before = len(self.gateway.requests)
        with self.stream() as stream:
            text = "".join(stream)
        self.assertEqual(text, ANSWER)
        self.assertEqual(stream.completion.resumed, 3)
        asked = self.asked(stream, before)
        # Each continuation repeats created and in_progress, so its event 5 is 3 events further on.
        self.assertEqual(asked, [("POST", "")] + [("GET", "stream=true&starting_after=%d" % after) for after in (4, 7, 10)])

    def test_a_read_timeout_is_resumed(self) -> None:
        self.gateway.stall_next(after_tokens=3)
        with ssekit.stream_completion(self.url, json=self.body, timeout=(5, 0.3), resume=True) as stream:
            text = "".join(stream)
        self.assertEqual(text, ANSWER)
        self.assertEqual(stream.completion.resumed, 1)

    def test_a_refused_continuation_polls_the_result_until_it_settles(self) -> None:
        self.gateway.resume_window = 0.0  # the API refuses to stream it again
        self.gateway.pending_polls = 2
        self.gateway.cut_next(after_tokens=2)
        before = len(self.gateway.requests)
        with self.stream(resume=ssekit.Resume(poll_interval=0.01)) as stream:
            text = "".join(stream)
        self.assertEqual(text, ANSWER)
        self.assertEqual(answer_of(stream.completion), answer_of(self.expected))
        self.assertEqual(stream.completion.resumed, 1)
        asked = self.asked(stream, before)
        self.assertEqual([query for _, query in asked[2:]], ["", "", ""])  # three polls: in progress twice, then done
        self.assertIn("starting_after", asked[1][1])

    def test_polling_stops_at_the_deadline(self) -> None:
        self.gateway.resume_window = 0.0
        self.gateway.pending_polls = 1000
        self.gateway.cut_next(after_tokens=2)
        # 1000 polls 0.05 s apart would take 50 s; the deadline is long enough for a loaded machine's first tokens.
        with self.stream(resume=ssekit.Resume(poll_interval=0.05), deadline=2.0) as stream:
            with self.assertRaises(StreamTimeoutError) as caught:
                "".join(stream)
        self.assertTrue(ANSWER.startswith(caught.exception.partial.text))
        self.assertGreater(len(caught.exception.partial.text), 0)

    def test_a_poll_sent_after_the_deadline_keeps_the_partial_answer(self) -> None:
        # The wait between two polls can end after the deadline on a loaded machine: the poll is then not sent,
        # and its error still carries what was received (it once came without it).
        attempt = Attempt(2, deadline_at(-1))
        partial = ssekit.Completion()
        with closing_session() as session:
            with self.assertRaises(StreamTimeoutError) as caught:
                fetch_json(session, self.url, secrets=NO_SECRETS, headers={}, attempt=attempt, timeout=5,
                           interrupter=Interrupter(), partial=partial)  # fmt: skip
        self.assertIs(caught.exception.partial, partial)

    def test_a_cancel_while_polling_ends_quietly(self) -> None:
        self.gateway.resume_window = 0.0
        self.gateway.pending_polls = 1000
        self.gateway.cut_next(after_tokens=2)
        cancel = threading.Event()
        timer = threading.Timer(0.4, cancel.set)
        timer.start()
        self.addCleanup(timer.cancel)
        with self.stream(resume=ssekit.Resume(poll_interval=0.05), cancel=cancel) as stream:
            text = "".join(stream)
        self.assertTrue(stream.cancelled)
        self.assertTrue(ANSWER.startswith(text))
        self.assertGreater(len(text), 0)

    def test_a_failed_continuation_is_retried_under_the_policy(self) -> None:
        self.gateway.cut_next(after_tokens=2)
        self.gateway.fail_next(503, retry_after=0)
        with self.stream() as stream:
            self.assertEqual("".join(stream), ANSWER)
        self.assertEqual(stream.completion.resumed, 1)

    def test_a_continuation_that_keeps_failing_raises_incomplete_with_the_partial_answer(self) -> None:
        self.gateway.cut_next(after_tokens=2)
        self.gateway.fail_next(503, times=2, retry_after=0)
        with self.stream(retry=Retry(total=1, backoff_factor=0)) as stream:
            with self.assertRaises(IncompleteStreamError) as caught:
                "".join(stream)
        self.assertIn("could not be resumed", str(caught.exception))
        self.assertIn("503", str(caught.exception))
        self.assertTrue(ANSWER.startswith(caught.exception.partial.text))
        self.assertGreater(len(caught.exception.partial.text), 0)

    def test_max_resumes_bounds_the_continuations(self) -> None:
        self.gateway.cut_next(after_tokens=2, times=2)  # (every queued fault is used: none is left for the next test)
        with self.stream(resume=ssekit.Resume(max_resumes=1)) as stream:
            with self.assertRaises(IncompleteStreamError) as caught:
                "".join(stream)
        self.assertEqual(caught.exception.partial.resumed, 1)
        self.assertTrue(ANSWER.startswith(caught.exception.partial.text))

    def test_a_foreground_request_cannot_be_resumed_and_fails_as_before(self) -> None:
        self.gateway.cut_next(after_tokens=2)
        before = len(self.gateway.requests)
        body = sample_request("responses")
        with ssekit.stream_completion(self.url, json=body, resume=True) as stream:
            with self.assertRaises(IncompleteStreamError) as caught:
                "".join(stream)
        self.assertEqual(len(self.gateway.requests), before + 1)
        self.assertTrue(ANSWER.startswith(caught.exception.partial.text))
        self.assertEqual(caught.exception.partial.resumed, 0)

    def test_without_resume_a_background_stream_fails_as_before(self) -> None:
        self.gateway.cut_next(after_tokens=2)
        with self.stream(resume=False) as stream:
            with self.assertRaises(IncompleteStreamError):
                "".join(stream)


class Gaps(unittest.TestCase):
    """A continuation that skips events is an error, never silence; an early clean end is resumed too."""

    def serve(self, first: List[bytes], continuation: List[bytes]) -> Tuple[SSEServer, str]:
        server = SSEServer().start()
        self.addCleanup(server.close)
        server.script("/v1/responses", ScriptedResponse.sse(first))
        server.script("/v1/responses/{id}", ScriptedResponse.sse(continuation))
        return server, server.url("/v1/responses")

    def test_a_gap_after_resuming_raises_stream_gap_error_with_the_partial_answer(self) -> None:
        events = builders.build_events("responses", ANSWER)
        server, url = self.serve(events[:6], events[:2] + events[8:])  # created, in_progress repeated; 6 and 7 lost
        body = dict(sample_request("responses"), background=True)
        with ssekit.stream_completion(url, json=body, resume=True) as stream:
            with self.assertRaises(StreamGapError) as caught:
                "".join(stream)
        error = caught.exception
        self.assertEqual((error.expected, error.received), (6, 8))
        self.assertIsInstance(error, ssekit.SSEKitError)
        self.assertTrue(ANSWER.startswith(error.partial.text))
        self.assertGreater(len(error.partial.text), 0)
        self.assertEqual(server.requests[-1].query, "stream=true&starting_after=5")

    def test_a_poll_that_answers_no_json_object_fails_clearly_without_the_url_query(self) -> None:
        events = builders.build_events("responses", ANSWER)
        server = SSEServer().start()
        self.addCleanup(server.close)
        server.script("/v1/responses", ScriptedResponse.sse(events[:6]))
        refused = ScriptedResponse.json({"error": {"message": "too late to stream it again"}}, status=400)
        server.script("/v1/responses/{id}", refused, ScriptedResponse.text("<html>busy</html>", content_type="text/html"))
        body = dict(sample_request("responses"), background=True)
        url = server.url("/v1/responses") + "?api_key=sk-in-the-query-0123456789"
        with ssekit.stream_completion(url, json=body, resume=ssekit.Resume(poll_interval=0.01)) as stream:
            with self.assertRaises(IncompleteStreamError) as caught:
                "".join(stream)
        self.assertIn("gave no JSON object", str(caught.exception))
        self.assertNotIn("sk-in-the-query", str(caught.exception))
        self.assertTrue(ANSWER.startswith(caught.exception.partial.text))

    def test_a_stream_that_ends_early_without_a_cut_is_resumed(self) -> None:
        events = builders.build_events("responses", ANSWER)
        _, url = self.serve(events[:7], events[:2] + events[7:])
        body = dict(sample_request("responses"), background=True, include=["reasoning.encrypted_content"])
        with ssekit.stream_completion(url, json=body, resume=True) as stream:
            self.assertEqual("".join(stream), ANSWER)
        self.assertEqual(stream.completion.resumed, 1)


class PlainSSE(unittest.TestCase):
    """Streams with ``id:`` lines, continued with ``Last-Event-ID`` at the URL the caller names."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.gateway = LocalGateway(answer=ANSWER, resumable=True).start()
        cls.policy = ssekit.Resume(url=lambda completion: cls.gateway.server.url("/v1/streams/%s" % completion.id))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.gateway.close()

    def test_a_cut_anywhere_is_resumed_after_the_last_event_id(self) -> None:
        for format in ("chat_completions", "messages"):
            body = sample_request(format)
            expected, events = unbroken(self.gateway, format, body)
            tried = 0
            for where, event, offset in cut_positions(events):
                with self.subTest(format=format, where=where):
                    self.gateway.cut_next(at_event=event, at_byte=offset)
                    with ssekit.stream_completion(self.gateway.url(format), json=body, resume=self.policy,
                                                  retry=NO_BACKOFF, timeout=(5, 10)) as stream:  # fmt: skip
                        ids = [event.id for event in stream.events()]
                    self.assertEqual(ids, [str(number) for number in range(1, len(events) + 1)])
                    self.assertEqual(answer_of(stream.completion), answer_of(expected))
                    self.assertEqual(stream.completion.text, ANSWER)
                    self.assertEqual(stream.completion.resumed, 0 if event == 0 else 1)
                    tried += 1
            self.assertEqual(tried, 4 * len(events))
        resumed = [request for request in self.gateway.requests if request.method == "GET"]
        self.assertTrue(resumed)
        self.assertTrue(all(request.headers["Last-Event-ID"].isdigit() for request in resumed))

    def test_a_fixed_resume_url_gets_the_last_event_id(self) -> None:
        events = [b"id: e%d\n" % number + event for number, event in enumerate(builders.build_events("generation", ANSWER))]
        server = SSEServer().start()
        self.addCleanup(server.close)
        server.script("/chat", ScriptedResponse.sse(events, cut_after=len(b"".join(events[:3])) + 5))
        server.script("/chat/resume", ScriptedResponse.sse(events[3:]))
        policy = ssekit.Resume(url=server.url("/chat/resume"))
        with ssekit.stream_completion(server.url("/chat"), json={"prompt": "hi"}, resume=policy) as stream:
            self.assertEqual("".join(stream), ANSWER)
        self.assertEqual(stream.completion.resumed, 1)
        self.assertEqual(server.requests[-1].method, "GET")
        self.assertEqual(server.requests[-1].headers["Last-Event-ID"], "e2")


    def test_events_without_an_id_of_their_own_are_not_repeated(self) -> None:
        plain = builders.build_events("generation", ANSWER)
        events = [b"id: e%d\n" % number + event if number % 3 == 0 else event for number, event in enumerate(plain)]
        carriers = {"e%d" % number: number for number in range(0, len(events), 3)}
        server = SSEServer().start()
        self.addCleanup(server.close)
        server.route("/chat/resume", lambda request: ScriptedResponse.sse(events[carriers[request.headers["Last-Event-ID"]] + 1 :]))
        policy = ssekit.Resume(url=server.url("/chat/resume"))
        for where, event, offset in cut_positions(events):
            with self.subTest(where=where):
                cut = len(b"".join(events[:event])) + offset
                server.script("/chat", ScriptedResponse.sse(events, cut_after=cut), ScriptedResponse.sse(events))
                with ssekit.stream_completion(server.url("/chat"), json={}, resume=policy, retry=NO_BACKOFF) as stream:
                    self.assertEqual("".join(stream), ANSWER)
                # (a cut before [DONE] leaves a complete answer: nothing to resume)
                self.assertEqual(stream.completion.resumed, 1 if 0 < event < len(events) - 1 else 0)


class Policy(unittest.TestCase):
    def test_bad_values_are_refused_before_anything_is_sent(self) -> None:
        for bad in ("yes", 1.5, object()):
            with self.subTest(resume=bad):
                with self.assertRaises(InvalidRequestError):
                    ssekit.stream_completion("http://127.0.0.1:9/v1/responses", json={}, resume=bad)  # type: ignore[arg-type]
        for options in ({"max_resumes": 0}, {"poll_interval": 0}, {"url": 42}):
            with self.subTest(options=options):
                with self.assertRaises(InvalidRequestError):
                    ssekit.Resume(**options)  # type: ignore[arg-type]

    def test_resumed_is_recorded_but_not_compared(self) -> None:
        completion = ssekit.accumulate(iter_sse(builders.build_events("responses", ANSWER)))
        resumed = completion.resumed_copy(2)
        self.assertEqual(resumed.resumed, 2)
        self.assertEqual(completion.resumed, 0)
        self.assertEqual(resumed, completion)
        self.assertEqual(resumed.to_dict()["resumed"], 2)
        self.assertEqual(resumed.text, ANSWER)


class Cursor(unittest.TestCase):
    """The Responses cursor alone: duplicates skipped, a gap after resuming raised, the requests it names."""

    def test_duplicates_are_skipped_and_gaps_raise_after_resuming(self) -> None:
        events = list(iter_sse(builders.build_events("responses", ANSWER, id="resp_7")))
        cursor = ResponsesCursor("https://api.example.com/v1/responses?api-version=1", ["reasoning.encrypted_content"])
        partial = ssekit.Completion
        self.assertFalse(cursor.ready())
        self.assertTrue(all(cursor.admit(event, partial) for event in events[:4]))
        self.assertTrue(cursor.ready())
        request = cursor.request(ssekit.Completion())
        self.assertEqual(request.url, "https://api.example.com/v1/responses/resp_7?api-version=1&stream=true"
                                      "&starting_after=3&include%5B%5D=reasoning.encrypted_content")  # fmt: skip
        self.assertEqual(cursor.poll_url(), "https://api.example.com/v1/responses/resp_7?api-version=1"
                                            "&include%5B%5D=reasoning.encrypted_content")  # fmt: skip
        cursor.resumed()
        self.assertEqual([cursor.admit(event, partial) for event in events[:5]], [False] * 4 + [True])
        with self.assertRaises(StreamGapError):
            cursor.admit(events[6], partial)
        self.assertTrue(cursor.settled({"status": "cancelled"}))
        self.assertFalse(cursor.settled({"status": "queued"}))


if __name__ == "__main__":
    unittest.main()
