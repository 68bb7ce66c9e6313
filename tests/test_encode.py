"""ServerSentEvent.encode() and encode_comment(): exact bytes, refusals, and the round trip.

The property: decoding an event's encoding gives the event back, under any
chunking of the bytes, alone or in a stream of encoded events and comments.
The seeded standard-library generator always runs; the same property runs
under hypothesis when it is installed.
"""
import random
import unittest
from typing import Callable, List, Optional, Sequence

from ssekit import InvalidRequestError, ServerSentEvent, SSEKitError, iter_sse
from ssekit.sse import MAX_RETRY, encode_comment

from .sizes import scaled
from tests.test_fuzz_decoder import chunks_at, random_cuts, random_stream

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_HYPOTHESIS = False

#: Random events the seeded round trip draws (each also fed byte by byte and in pieces).
SEEDED_EVENTS = scaled(4000)
#: Random streams of several encoded events and comments.
SEEDED_STREAMS = scaled(600)

PIECES = [
    "", " ", "  ", ":", ": ", "a", "data: x", "id: 3", "event: e", "retry: 5", "\r", "\n", "\r\n", "\n\r", "\r\r",
    "\n\n", "\x00", "\t", "\ufeff", "\u2028", "\x85", "\x0b", "\u00e9", "\u20ac", "\U0001f600", "\ufffd", "[DONE]",
    '{"a": 1}',
]
RETRIES = [None, None, None, 0, 1, 3000, MAX_RETRY]


def decode(data: bytes) -> List[ServerSentEvent]:
    return list(iter_sse([data]))


def text(rng: random.Random, pieces: Sequence[str] = PIECES) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))


def random_event(rng: random.Random) -> ServerSentEvent:
    """An event with any data, and an event type and id that encode() accepts."""
    single_line = [piece for piece in PIECES if "\r" not in piece and "\n" not in piece]
    event = rng.choice(["message", "message", "", text(rng, single_line)])
    id = rng.choice([None, None, "", text(rng, [piece for piece in single_line if "\x00" not in piece])])
    return ServerSentEvent(event, text(rng), id, rng.choice(RETRIES))


def as_decoded(event: ServerSentEvent) -> ServerSentEvent:
    """What decoding *event*'s encoding must give: LF for every line end, "message" for ""."""
    data = event.data.replace("\r\n", "\n").replace("\r", "\n")
    return event._replace(event=event.event or "message", data=data)


class RoundTrip:
    """The checks, shared by the seeded and the hypothesis tests (a mixin of TestCase)."""

    assertEqual: Callable[..., None]

    def check_event(self, event: ServerSentEvent, rng: random.Random) -> None:
        wire = event.encode()
        expected = [as_decoded(event)]
        self.assertEqual(decode(wire), expected, wire)
        self.assertEqual(list(iter_sse([wire[i : i + 1] for i in range(len(wire))])), expected, wire)
        self.assertEqual(list(iter_sse(chunks_at(wire, random_cuts(rng, len(wire))))), expected, wire)

    def check_stream(
        self, events: Sequence[ServerSentEvent], comments: Sequence[Optional[str]], rng: random.Random
    ) -> None:
        """Encoded events with comments between them decode to the events, in any pieces."""
        wire = b"".join(
            (encode_comment(comment) if comment is not None else b"") + event.encode()
            for event, comment in zip(events, comments)
        )
        expected = [as_decoded(event) for event in events]
        self.assertEqual(decode(wire), expected)
        self.assertEqual(list(iter_sse(chunks_at(wire, random_cuts(rng, len(wire))))), expected)


class ExactBytes(unittest.TestCase):
    def test_plain_event(self) -> None:
        self.assertEqual(ServerSentEvent(data="hi").encode(), b"data: hi\n\n")

    def test_every_field(self) -> None:
        event = ServerSentEvent("delta", '{"t": "\u00e9"}', "42", 1500)
        self.assertEqual(event.encode(), 'event: delta\nid: 42\nretry: 1500\ndata: {"t": "\u00e9"}\n\n'.encode("utf-8"))

    def test_every_line_end_in_data_starts_a_data_line(self) -> None:
        event = ServerSentEvent(data="a\nb\r\nc\rd\n\re")
        self.assertEqual(event.encode(), b"data: a\ndata: b\ndata: c\ndata: d\ndata: \ndata: e\n\n")
        self.assertEqual(decode(event.encode()), [ServerSentEvent(data="a\nb\nc\nd\n\ne")])

    def test_empty_data_and_empty_lines_are_kept(self) -> None:
        self.assertEqual(ServerSentEvent(data="").encode(), b"data: \n\n")
        self.assertEqual(ServerSentEvent(data="\n").encode(), b"data: \ndata: \n\n")
        for data in ("", "\n", "\n\n", "a\n", "\na"):
            self.assertEqual(decode(ServerSentEvent(data=data).encode()), [ServerSentEvent(data=data)])

    def test_leading_spaces_and_colons_survive(self) -> None:
        # One space after the colon is always written: it is the one the decoder drops.
        event = ServerSentEvent(" spaced", "  two\n: colon\n id", " x")
        self.assertEqual(event.encode(), b"event:  spaced\nid:  x\ndata:   two\ndata: : colon\ndata:  id\n\n")
        self.assertEqual(decode(event.encode()), [event])

    def test_message_and_empty_event_types_are_left_out(self) -> None:
        self.assertEqual(ServerSentEvent("message", "x").encode(), b"data: x\n\n")
        self.assertEqual(ServerSentEvent("", "x").encode(), b"data: x\n\n")

    def test_id_is_written_whenever_set_even_empty(self) -> None:
        self.assertEqual(ServerSentEvent(data="x", id="").encode(), b"id: \ndata: x\n\n")
        self.assertEqual(decode(ServerSentEvent(data="x", id="").encode())[0].id, "")
        self.assertNotIn(b"id", ServerSentEvent(data="x").encode())

    def test_nul_and_unicode_separators_pass_through(self) -> None:
        event = ServerSentEvent("a\x00b", "\x00\u2028\x85\x0b\ufeff")
        self.assertEqual(decode(event.encode()), [event])

    def test_comments(self) -> None:
        self.assertEqual(encode_comment(), b": \n\n")
        self.assertEqual(encode_comment("keep-alive"), b": keep-alive\n\n")
        self.assertEqual(encode_comment("a\r\nb\rc\nd"), b": a\n: b\n: c\n: d\n\n")
        wire = encode_comment("x\ndata: not data") + ServerSentEvent(data="y").encode() + encode_comment("z")
        self.assertEqual(decode(wire), [ServerSentEvent(data="y")])


class Refusals(unittest.TestCase):
    def assert_refused(self, event: ServerSentEvent, quoted: str) -> None:
        with self.assertRaises(InvalidRequestError) as caught:
            event.encode()
        self.assertIsInstance(caught.exception, SSEKitError)
        self.assertIsInstance(caught.exception, ValueError)
        self.assertIn(quoted, str(caught.exception))

    def test_line_ends_in_event_or_id_and_nul_in_id(self) -> None:
        for bad in ("a\nb", "a\rb", "a\r\nb", "\n"):
            with self.subTest(value=bad):
                self.assert_refused(ServerSentEvent(bad, "x"), "event")
                self.assert_refused(ServerSentEvent(data="x", id=bad), "id")
        self.assert_refused(ServerSentEvent(data="x", id="1\x002"), "'\\x00'")

    def test_retry_outside_what_decoders_read_back(self) -> None:
        for bad in (-1, MAX_RETRY + 1, 1.5, "10", True):
            with self.subTest(retry=bad):
                self.assert_refused(ServerSentEvent(data="x", retry=bad), "retry")  # type: ignore[arg-type]

    def test_text_that_is_not_utf8(self) -> None:
        self.assert_refused(ServerSentEvent(data="a\udc80"), "UTF-8")
        self.assert_refused(ServerSentEvent("\ud800", "x"), "UTF-8")
        with self.assertRaises(InvalidRequestError):
            encode_comment("\udfff")


class SeededRoundTrip(RoundTrip, unittest.TestCase):
    def test_random_events_come_back(self) -> None:
        rng = random.Random(20261201)
        for _ in range(SEEDED_EVENTS):
            self.check_event(random_event(rng), rng)

    def test_streams_of_events_and_comments_come_back(self) -> None:
        rng = random.Random(13)
        for _ in range(SEEDED_STREAMS):
            events = [random_event(rng) for _ in range(rng.randint(1, 8))]
            # As decoded streams are: once an id was seen, every later event has one.
            for index in range(1, len(events)):
                if events[index].id is None and events[index - 1].id is not None:
                    events[index] = events[index]._replace(id=events[index - 1].id)
            comments = [rng.choice([None, None, "", text(rng)]) for _ in events]
            self.check_stream(events, comments, rng)

    def test_every_decoded_event_reencodes_to_itself(self) -> None:
        # The decoder's own fuzz grammar: invalid UTF-8, BOMs, NULs, odd fields...
        rng = random.Random(4)
        count = 0
        for _ in range(scaled(3000)):
            events = decode(random_stream(rng))
            for event in events:
                self.assertEqual(decode(event.encode()), [event])
            self.assertEqual(decode(b"".join(event.encode() for event in events)), events)
            count += len(events)
        self.assertGreater(count, scaled(3000) // 2)


if HAVE_HYPOTHESIS:
    _SINGLE_LINE = st.text().filter(lambda value: "\r" not in value and "\n" not in value)
    EVENTS = st.builds(
        ServerSentEvent,
        event=st.one_of(st.just("message"), _SINGLE_LINE),
        data=st.one_of(st.text(), st.lists(st.sampled_from(PIECES)).map("".join)),
        id=st.one_of(st.none(), _SINGLE_LINE.filter(lambda value: "\x00" not in value)),
        retry=st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_RETRY)),
    )
    # (the health checks measure the machine's speed and load, not ssekit: a loaded CI runner, PyPy's warm-up trip them)
    def hypothesis_test(test: Callable[..., None]) -> Callable[..., None]:
        """*test* given random events, under settings for a loaded runner (no deadline, no health checks)."""
        given_events = given(EVENTS, st.randoms(use_true_random=False))(test)
        return settings(max_examples=scaled(200), deadline=None, suppress_health_check=list(HealthCheck))(given_events)  # type: ignore[no-any-return]
else:  # pragma: no cover - the class below is skipped

    def hypothesis_test(test: Callable[..., None]) -> Callable[..., None]:
        """No hypothesis: leave the test as it is (its class is skipped)."""
        return test


@unittest.skipUnless(HAVE_HYPOTHESIS, "hypothesis is not installed (pip install hypothesis); the seeded round trip ran")
class HypothesisRoundTrip(RoundTrip, unittest.TestCase):
    @hypothesis_test
    def test_random_events_come_back(self, event: ServerSentEvent, rng: random.Random) -> None:
        self.check_event(event, rng)


if __name__ == "__main__":
    unittest.main()
