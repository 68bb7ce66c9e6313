"""Property tests of the SSE decoder against a spec-literal reference, under every chunking.

Random byte streams come from a grammar rich in edge cases: all three line
ends (a CRLF cut between its bytes included), leading and misplaced BOMs,
comments, unknown fields, fields without a colon, multi-byte UTF-8 cut
anywhere, invalid UTF-8, NULs, Unicode line separators that are not SSE line
ends, bad ``retry`` values and huge lines. Each stream is decoded whole, one
byte at a time and in random pieces, and every run must give exactly the
events of a slow, line-by-line transcription of the WHATWG algorithm
(:func:`reference`), each event returned by the very ``feed`` call that
delivered its blank line. With a small ``max_event_size`` the only exception
allowed is :class:`EventTooLargeError`, raised by the ``feed`` call that
carried the offending byte, whatever the chunking.

A seeded standard-library generator always runs (``SEEDED_STREAMS`` streams);
the same properties run under ``hypothesis`` when it is installed.
"""
import random
import re
import unittest
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from ssekit import ServerSentEvent, SSEDecoder, SSEKitError, iter_sse, iter_sse_lines
from ssekit.errors import EventTooLargeError
from ssekit.sse import MAX_RETRY

from .sizes import scaled

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_HYPOTHESIS = False

BOM = b"\xef\xbb\xbf"
LINE_END = re.compile(rb"\r\n|\r|\n")
#: Streams drawn by the seeded generator for the default-limit property.
SEEDED_STREAMS = scaled(1500)
#: Streams drawn by the seeded generator for the small-limit property.
SEEDED_LIMIT_STREAMS = scaled(1500)
#: Examples hypothesis draws per property.
HYPOTHESIS_EXAMPLES = scaled(300)
#: Random chunkings tried per stream (besides whole and byte by byte).
RANDOM_CHUNKINGS = 4

# --- the reference: the WHATWG algorithm, one line at a time --------------------


class Expected(NamedTuple):
    """What decoding a whole stream must give."""

    events: List[ServerSentEvent]
    #: For each event, the index of the byte (the first byte of the blank line's end) that dispatches it.
    dispatch_at: List[int]
    #: Index of the first byte that breaks the size limit, or None.
    too_large_at: Optional[int]
    last_event_id: Optional[str]
    retry: Optional[int]
    pending: bool


def reference(data: bytes, max_size: Optional[int] = None) -> Expected:
    """Decode *data* by the spec's steps, slowly and literally (the test oracle).

    The limit rules are ssekit's: a line (without its end, without the leading
    BOM) over *max_size* bytes, or an event's data over *max_size* characters
    once it has two lines or more (its lines plus one per line), is too large.
    """
    start = len(BOM) if data.startswith(BOM) else 0
    events = []  # type: List[ServerSentEvent]
    dispatch_at = []  # type: List[int]
    violations = []  # type: List[int]
    data_lines = []  # type: List[str]
    event_type = ""
    last_id = None  # type: Optional[str]
    retry = None  # type: Optional[int]
    event_retry = None  # type: Optional[int]
    field_seen = False
    position = start
    # Until a first line proves it does not start with a BOM, its first bytes may still be one.
    lead = 0 if start else next((i for i in range(len(BOM)) if data[i : i + 1] != BOM[i : i + 1]), len(BOM))
    for match in LINE_END.finditer(data, start):
        raw = data[position : match.start()]
        if max_size is not None and len(raw) > max_size:
            violations.append(max(position + max_size, lead if position == 0 else 0))
        line = raw.decode("utf-8", "replace")
        position = match.end()
        if line == "":
            if data_lines:
                events.append(ServerSentEvent(event_type or "message", "\n".join(data_lines), last_id, event_retry))
                dispatch_at.append(match.start())
            data_lines = []
            event_type = ""
            event_retry = None
            field_seen = False
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        field_seen = True
        if name == "data":
            data_lines.append(value)
            size = sum(len(piece) + 1 for piece in data_lines)
            if max_size is not None and len(data_lines) > 1 and size > max_size:
                violations.append(match.start())
        elif name == "event":
            event_type = value
        elif name == "id":
            if "\x00" not in value:
                last_id = value
        elif name == "retry":
            if value and all(char in "0123456789" for char in value):
                retry = event_retry = saturating_int(value)
    tail = data[position:]
    # Before its first line end the decoder cannot tell a lone BOM from a line: both are pending.
    pending_bytes = data[position:] if position > start else data
    if max_size is not None and len(tail) > max_size:
        violations.append(max(position + max_size, lead if position == 0 else 0))
    violations = [index for index in violations if index < len(data)]  # (a BOM prefix at the very end)
    too_large_at = min(violations) if violations else None
    return Expected(events, dispatch_at, too_large_at, last_id, retry, bool(pending_bytes) or field_seen)


def saturating_int(digits: str) -> int:
    """The base-ten value of *digits*, capped at ssekit's ``MAX_RETRY`` (digit by digit: any length)."""
    number = 0
    for char in digits:
        number = min(number * 10 + ord(char) - ord("0"), MAX_RETRY + 1)
    return min(number, MAX_RETRY)


# --- the grammar ------------------------------------------------------------------

FIELD_NAMES = ["data"] * 6 + ["event", "event", "id", "id", "retry", "retry", "", "Data", "data ", " data", "dat", "x", "\ufeff"]
TEXT_PIECES = [
    "", " ", "  ", "a", "hello world", ":", ": x", "data: ", "id", "[DONE]", '{"choices":[{"delta":{"content":"hi"}}]}',
    "\u00e9", "\u20ac", "\U0001f600", "\u65e5\u672c", "\x00", "\t", "\ufeff", "\u2028", "\u2029", "\x85", "\x0b", "\x0c",
    "\x1c", "\x1e", "\ufffd",
]
INVALID_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"]
RETRY_VALUES = [
    "0", "10", "3000", "007", "", " 5", "5 ", "-1", "1.5", "10a", "\u0661\u0662", "\u00b2", "99999999999999999999",
    str(MAX_RETRY), str(MAX_RETRY + 1), "0" * 30 + str(MAX_RETRY), "9" * 5000, "0" * 5000 + "42", "9" * 5000 + "x",
]
ID_VALUES = ["", "1", "abc", "a\x00b", "\x00", "\u00e9\u00e9", " lead"]
LINE_ENDS = [b"\n", b"\n", b"\r\n", b"\r"]


def _value(rng: random.Random) -> bytes:
    """A field value: text pieces with, now and then, invalid UTF-8 bytes."""
    parts = []  # type: List[bytes]
    for _ in range(rng.randint(0, 4)):
        if rng.random() < 0.15:
            parts.append(rng.choice(INVALID_UTF8))
        else:
            parts.append(rng.choice(TEXT_PIECES).encode("utf-8"))
    return b"".join(parts)


def _line(rng: random.Random, huge: int) -> bytes:
    """One line without its end: a field, a comment, a bare name, or a blank line."""
    roll = rng.random()
    if roll < 0.22:
        return b""
    if roll < 0.30:
        return b":" + _value(rng)
    if roll < 0.33 and huge:
        return b"data: " + b"x" * rng.randint(huge // 2, huge)
    name = rng.choice(FIELD_NAMES)
    if name == "retry" and rng.random() < 0.7:
        value = rng.choice(RETRY_VALUES).encode("utf-8")
    elif name == "id" and rng.random() < 0.6:
        value = rng.choice(ID_VALUES).encode("utf-8")
    else:
        value = _value(rng)
    shape = rng.random()
    if shape < 0.08:
        return name.encode("utf-8")  # no colon at all: the whole line is the name
    separator = b": " if shape < 0.7 else b":" if shape < 0.9 else b":  "
    return name.encode("utf-8") + separator + value


def random_stream(rng: random.Random, huge: int = 0) -> bytes:
    """A random SSE byte stream from the edge-case grammar (*huge*: longest rare big line)."""
    head = rng.choice([b"", b"", b"", BOM, BOM + BOM, BOM[:2], b"\n"])
    lines = [_line(rng, huge) for _ in range(rng.randint(0, 14))]
    ends = [rng.choice(LINE_ENDS) for _ in lines]
    body = b"".join(line + end for line, end in zip(lines, ends))
    tail = rng.choice([b"", b"", b"\n", b"\r\n", b"\r", b"data: tail", b"\xe2\x82", b":c"])
    return head + body + tail


def random_cuts(rng: random.Random, size: int) -> List[int]:
    """Sorted cut positions inside ``range(1, size)``: few, many, or clustered."""
    if size < 2:
        return []
    count = rng.choice([1, 2, 3, 5, 8, max(1, size // 3)])
    return sorted(set(rng.randint(1, size - 1) for _ in range(count)))


def chunks_at(data: bytes, cuts: Sequence[int]) -> List[bytes]:
    """*data* cut at *cuts* (sorted positions); empty chunks are kept if cuts repeat."""
    bounds = [0] + list(cuts) + [len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def crlf_cuts(data: bytes) -> List[int]:
    """Cuts between every CR and a following LF, and inside every BOM and multi-byte sequence."""
    cuts = set()
    for index in range(1, len(data)):
        if data[index - 1 : index + 1] == b"\r\n" or 0x80 <= data[index] <= 0xBF:
            cuts.add(index)
    return sorted(cuts)


# --- running the decoder ------------------------------------------------------------


class Outcome(NamedTuple):
    events: List[ServerSentEvent]
    #: For each event, the index of the last byte of the chunk whose feed() returned it.
    returned_at: List[int]
    #: (start, end) byte range of the chunk whose feed() raised EventTooLargeError, or None.
    raised_in: Optional[Tuple[int, int]]
    decoder: SSEDecoder


def run_decoder(chunks: Sequence[bytes], max_size: Optional[int] = None) -> Outcome:
    """Feed *chunks* one by one; record which call returned each event, and any size error."""
    decoder = SSEDecoder() if max_size is None else SSEDecoder(max_size)
    events = []  # type: List[ServerSentEvent]
    returned_at = []  # type: List[int]
    offset = 0
    for chunk in chunks:
        try:
            got = decoder.feed(chunk)
        except EventTooLargeError as exc:
            if exc.limit != decoder.max_event_size or "limit" not in str(exc):
                raise AssertionError("EventTooLargeError without its limit: %r" % exc)
            return Outcome(events, returned_at, (offset, offset + len(chunk)), decoder)
        offset += len(chunk)
        events.extend(got)
        returned_at.extend([offset - 1] * len(got))
    return Outcome(events, returned_at, None, decoder)


def chunkings(data: bytes, rng: random.Random) -> List[Tuple[str, List[bytes]]]:
    """The ways each stream is fed: whole, byte by byte, at CR|LF and UTF-8 seams, at random."""
    ways = [("whole", [data]), ("bytes", [data[i : i + 1] for i in range(len(data))])]
    ways.append(("seams", chunks_at(data, crlf_cuts(data))))
    for number in range(RANDOM_CHUNKINGS):
        ways.append(("random%d" % number, chunks_at(data, random_cuts(rng, len(data)))))
    with_empty = chunks_at(data, sorted(random_cuts(rng, len(data)) * 2))  # repeated cuts: empty chunks
    ways.append(("empties", [b""] + with_empty + [b""]))
    return ways


class DecoderProperties:
    """The checks, shared by the seeded and the hypothesis tests (a mixin of TestCase)."""

    assertEqual: Callable[..., None]
    assertIsNone: Callable[..., None]
    assertIsNotNone: Callable[..., None]
    fail: Callable[..., None]

    def check_unlimited(self, data: bytes, rng: random.Random) -> int:
        """Every chunking gives the reference events, each from the feed that completed it."""
        expected = reference(data)
        for name, chunks in chunkings(data, rng):
            context = "%s chunking of %r" % (name, data[:300])
            try:
                outcome = run_decoder(chunks)
            except SSEKitError as exc:  # pragma: no cover - a failure report
                self.fail("%s raised %r" % (context, exc))
            self.assertEqual(outcome.events, expected.events, context)
            self.assertIsNone(outcome.raised_in, context)
            # Prompt: the chunk holding the dispatching byte returned the event (never buffered).
            prompt = [self._chunk_end(chunks, at) for at in expected.dispatch_at]
            self.assertEqual(outcome.returned_at, prompt, "late or early dispatch, " + context)
            decoder = outcome.decoder
            self.assertEqual(decoder.last_event_id, expected.last_event_id, context)
            self.assertEqual(decoder.retry, expected.retry, context)
            self.assertEqual(decoder.pending, expected.pending, context)
            self.assertEqual(decoder.close(), [], context)
            self.assertEqual(decoder.pending, False, context)
        self.assertEqual(list(iter_sse(iter([data]))), expected.events)
        if b"\r" not in data:  # iter_sse_lines takes lines already split at LF
            lines = data.split(b"\n")[:-1]
            self.assertEqual(list(iter_sse_lines(lines)), expected.events)
            self.assertEqual(list(iter_sse_lines(line.decode("utf-8", "replace") for line in lines)), expected.events)
        return len(chunkings(data, rng))

    def check_limited(self, data: bytes, max_size: int, rng: random.Random) -> int:
        """With a small limit: EventTooLargeError exactly in the chunk with the offending byte."""
        expected = reference(data, max_size)
        ways = chunkings(data, rng)
        for name, chunks in ways:
            context = "%s chunking, max_event_size=%d, of %r" % (name, max_size, data[:300])
            outcome = run_decoder(chunks, max_size)
            if expected.too_large_at is None:
                self.assertIsNone(outcome.raised_in, context)
                self.assertEqual(outcome.events, expected.events, context)
                continue
            self.assertIsNotNone(outcome.raised_in, "no EventTooLargeError, " + context)
            start, end = outcome.raised_in  # type: ignore[misc]
            self.assertEqual(
                (start <= expected.too_large_at < end), True,
                "raised in bytes %d:%d, the offending byte is %d, %s" % (start, end, expected.too_large_at, context),
            )
            before = [event for event, at in zip(expected.events, expected.dispatch_at) if at < start]
            self.assertEqual(outcome.events, before, context)
        return len(ways)

    @staticmethod
    def _chunk_end(chunks: Sequence[bytes], index: int) -> int:
        """The index of the last byte of the chunk that contains byte *index*."""
        offset = 0
        for chunk in chunks:
            offset += len(chunk)
            if index < offset:
                return offset - 1
        raise AssertionError("byte %d is past the end" % index)


class ReferenceSanity(unittest.TestCase):
    """The oracle itself, on hand-checked streams (so the properties rest on something)."""

    def test_known_streams(self) -> None:
        cases = [
            (b"data: a\n\n", [ServerSentEvent(data="a")]),
            (BOM + b"data:a\r\rdata: b\r\n\r\n", [ServerSentEvent(data="a"), ServerSentEvent(data="b")]),
            (BOM + BOM + b"data: a\n\n", []),  # the second BOM makes an unknown field name
            (b"event: e\ndata\ndata\n\n", [ServerSentEvent("e", "\n")]),
            (b"id: 1\ndata: x\n\nid: a\x00b\ndata: y\n\n", [ServerSentEvent(data="x", id="1"), ServerSentEvent(data="y", id="1")]),
            (b"retry: 10a\ndata: x\n\nretry: 7\ndata: y\n\n", [ServerSentEvent(data="x"), ServerSentEvent(data="y", retry=7)]),
            (b"data: \xe2\x82\n\n", [ServerSentEvent(data="\ufffd")]),
            (b"data: a\n: c\n\ndata: unterminated\n", [ServerSentEvent(data="a")]),
            (b"data:  two spaces\n\n", [ServerSentEvent(data=" two spaces")]),
            (b"data: a\xc2\x85b\n\n", [ServerSentEvent(data="a\x85b")]),
        ]
        for data, events in cases:
            with self.subTest(data=data):
                self.assertEqual(reference(data).events, events)
                self.assertEqual(run_decoder([data]).events, events)

    def test_limit_positions(self) -> None:
        self.assertEqual(reference(b"data: 1234\n\n", 10).too_large_at, None)
        self.assertEqual(reference(b"data: 12345\n\n", 10).too_large_at, 10)
        self.assertEqual(reference(b"data: 1\ndata: 2345678\n\n", 10).too_large_at, 18)  # a line of 13
        self.assertEqual(reference(b"data:12345\ndata:67890\n\n", 10).too_large_at, 21)  # data of 12
        self.assertEqual(reference(b"xxxxxxxxxxxxxxxxxxxx", 10).too_large_at, 10)
        outcome = run_decoder([b"data: 1\n", b"data: 234", b"5678\n\n"], 10)
        self.assertEqual(outcome.raised_in, (17, 23))


class SeededDecoderFuzz(DecoderProperties, unittest.TestCase):
    """The properties on streams from a seeded stdlib generator: always runs, same cases everywhere."""

    def test_every_chunking_matches_the_reference(self) -> None:
        rng = random.Random(20240607)
        runs = 0
        for number in range(SEEDED_STREAMS):
            huge = 200000 if number % 150 == 0 else 0
            data = random_stream(rng, huge)
            if huge:  # a big line: whole and in random pieces only (byte by byte would be slow)
                self._check_big(data, rng)
                runs += 2
                continue
            runs += self.check_unlimited(data, rng)
        self.assertGreater(runs, SEEDED_STREAMS * 5)

    def _check_big(self, data: bytes, rng: random.Random) -> None:
        expected = reference(data)
        for chunks in ([data], chunks_at(data, random_cuts(rng, len(data)))):
            self.assertEqual(run_decoder(chunks).events, expected.events)

    def test_small_limits_raise_only_event_too_large_in_the_right_chunk(self) -> None:
        rng = random.Random(7)
        runs = 0
        for _ in range(SEEDED_LIMIT_STREAMS):
            data = random_stream(rng, huge=rng.choice([0, 40, 120]))
            runs += self.check_limited(data, rng.randint(1, 48), rng)
        self.assertGreater(runs, SEEDED_LIMIT_STREAMS * 5)

    def test_byte_soup_raises_nothing_but_event_too_large(self) -> None:
        # Not the grammar: bytes drawn from the decoder's special bytes and any byte at all.
        rng = random.Random(18)
        alphabet = [b"\r", b"\n", b":", b" ", b"data", b"retry", b"id", b"event", b"9" * 300, b"\x00"]
        alphabet += [BOM, BOM[:1], b"\xff", b"\xc3", b"\xa9", b"\xe2\x80\xa8"]
        runs = 0
        for _ in range(300):
            pieces = [rng.choice(alphabet) if rng.random() < 0.8 else bytes([rng.randrange(256)]) for _ in range(60)]
            data = b"".join(pieces)
            runs += self.check_unlimited(data, rng)
            runs += self.check_limited(data, rng.randint(1, 64), rng)
        self.assertGreater(runs, 300 * 10)

    def test_every_two_piece_split_of_short_streams(self) -> None:
        rng = random.Random(99)
        for _ in range(200):
            data = random_stream(rng)[:120]
            expected = reference(data)
            for cut in range(len(data) + 1):
                chunks = [data[:cut], data[cut:]]
                outcome = run_decoder(chunks)
                self.assertEqual(outcome.events, expected.events, "cut at %d of %r" % (cut, data))

    def test_endless_line_is_refused_early_with_bounded_memory(self) -> None:
        decoder = SSEDecoder(1024)
        fed = 0
        with self.assertRaises(EventTooLargeError) as caught:
            for _ in range(10000):
                decoder.feed(b"x" * 100)
                fed += 100
        self.assertEqual(fed, 1000)  # the 11th chunk (1,100 bytes of one line) raised
        self.assertEqual(caught.exception.limit, 1024)
        self.assertIsNone(caught.exception.partial)


if HAVE_HYPOTHESIS:
    _TEXT_PIECE = st.one_of(
        st.sampled_from(TEXT_PIECES).map(lambda text: text.encode("utf-8")),
        st.sampled_from(INVALID_UTF8),
        st.text(max_size=6).map(lambda text: text.encode("utf-8")),
        st.binary(max_size=4),
    )
    _VALUE = st.lists(_TEXT_PIECE, max_size=4).map(b"".join)
    _FIELD_LINE = st.builds(
        lambda name, separator, value: name.encode("utf-8") + separator + value,
        st.sampled_from(FIELD_NAMES),
        st.sampled_from([b": ", b":", b":  ", b""]),
        st.one_of(_VALUE, st.sampled_from(RETRY_VALUES + ID_VALUES).map(lambda value: value.encode("utf-8"))),
    )
    _LINE = st.one_of(st.just(b""), st.just(b""), _FIELD_LINE, _VALUE.map(lambda value: b":" + value))
    STREAMS = st.builds(
        lambda head, lines, tail: head + b"".join(line + end for line, end in lines) + tail,
        st.sampled_from([b"", BOM, BOM + BOM, BOM[:2]]),
        st.lists(st.tuples(_LINE, st.sampled_from(LINE_ENDS)), max_size=12),
        st.sampled_from([b"", b"\r", b"data: tail", b"\xe2\x82"]),
    )
    LIMITS = st.integers(min_value=1, max_value=40)
    RANDOMS = st.randoms(use_true_random=False)

    def fuzz(*strategies: object) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """``@given(*strategies)`` with this file's settings (300 examples, no deadline)."""
        checks = list(HealthCheck)  # (they measure the machine's speed and load, not ssekit)
        return lambda test: settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, suppress_health_check=checks)(
            given(*strategies)(test)
        )

else:  # pragma: no cover - the tests below are skipped
    STREAMS = LIMITS = RANDOMS = None

    def fuzz(*strategies: object) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """No hypothesis: leave the test as it is (its class is skipped)."""
        return lambda test: test


@unittest.skipUnless(HAVE_HYPOTHESIS, "hypothesis not installed")
class HypothesisDecoderFuzz(DecoderProperties, unittest.TestCase):
    """The same properties with hypothesis drawing (and shrinking) the streams."""

    @fuzz(STREAMS, RANDOMS)
    def test_every_chunking_matches_the_reference(self, data: bytes, rng: random.Random) -> None:
        self.check_unlimited(data, rng)

    @fuzz(STREAMS, LIMITS, RANDOMS)
    def test_small_limits_raise_only_event_too_large_in_the_right_chunk(
        self, data: bytes, max_size: int, rng: random.Random
    ) -> None:
        self.check_limited(data, max_size, rng)


if __name__ == "__main__":
    unittest.main()
