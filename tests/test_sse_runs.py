"""The decoder's bulk path for runs of usual blocks (``data:``, or ``event:`` + ``data:``) against the reference.

The grammar fuzzers rarely draw two usual blocks in a row, so here the
streams are the LLM shapes: long runs of Anthropic-style ``event: N`` +
``data: X`` blocks (one type mostly, others where a content block ends and
the next starts) and OpenAI-style ``data: X`` blocks, with now and then a
block that the bulk path must leave to the field rules: a comment, ``id``,
``retry``, a second data line, a field without its space, a BOM, CR line
ends, invalid UTF-8... Every stream is checked under every chunking of
:class:`~tests.test_fuzz_decoder.DecoderProperties` (whole, byte by byte, at
random), the short ones cut in two at every byte as well.
"""
import random
import unittest
from typing import List
from unittest import mock

from ssekit import ServerSentEvent, SSEDecoder
from ssekit.sse import _pieces_with_lf

from .sizes import scaled
from .test_fuzz_decoder import DecoderProperties, reference, run_decoder

#: Streams drawn per property.
STREAMS = scaled(150)

DELTA = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"%s"}}'
TYPES = [b"content_block_delta"] * 12 + [b"content_block_start", b"content_block_stop", b"ping", b"message_delta", b"x", b""]
WORDS = [b"hi", b" there", b"", b" ", b"  two", b"\xc3\xa9", b"\xf0\x9f\x99\x82", b"\xe2\x80\xa8", b"\xc2\x85", b"\x00", b"event: x", b"data: y", b":"]

#: Blocks that the bulk path must leave to the field rules, and a few usual ones of other shapes.
UNUSUAL = [
    b": a comment\n\n",
    b"event: content_block_delta\n: a comment\ndata: x\n\n",
    b"id: 7\nevent: content_block_delta\ndata: x\n\n",
    b"event: content_block_delta\ndata: x\nid: 8\n\n",
    b"event: content_block_delta\nid: a\x00b\ndata: x\n\n",
    b"retry: 250\nevent: content_block_delta\ndata: x\n\n",
    b"event: content_block_delta\ndata: x\nretry: 9x\n\n",
    b"event: content_block_delta\ndata: one\ndata: two\n\n",
    b"event: content_block_delta\ndata: x\ndata:\n\n",
    b"event:content_block_delta\ndata: x\n\n",
    b"event: content_block_delta\ndata:x\n\n",
    b"event:  content_block_delta\ndata: x\n\n",
    b"event: content_block_delta\ndata:  x\n\n",
    b"event: content_block_delta\ndata:\n\n",
    b"event\ndata: x\n\n",
    b"event: content_block_delta\ndata\n\n",
    b"event: content_block_delta\n\n",
    b"data: x\nevent: content_block_delta\n\n",
    b"event: ping\nevent: content_block_delta\ndata: x\n\n",
    b"event: content_block_delta\ndata: x\nevent: ping\n\n",
    b"\xef\xbb\xbfevent: content_block_delta\ndata: x\n\n",
    b"event: content_block_delta\n\xef\xbb\xbfdata: x\n\n",
    b"event: content_block_delta\r\ndata: x\r\n\r\n",
    b"event: content_block_delta\rdata: x\r\r",
    b"event: content_block_delta\ndata: x\r\n\n",
    b"event: content_block_delta\ndata: \xff\xfe\n\n",
    b"event: \xc3(\ndata: x\n\n",
    b"event: content_block_delta\ndata: x\n\n\n",
    b"\n",
    b"event: content_block_delta\ndata: x\nfoo: bar\n\n",
    b"Event: content_block_delta\ndata: x\n\n",
    b"event: content_block_delta\ndata : x\n\n",
    b"event: content_block_delta\ndata: x\n",  # (the next block's lines join this one)
    b"event: content_block_delta\ndata: x\nid: 5\nevent: ping\ndata: y\n\n",  # (five lines: as many as 2 blocks less one)
    b"event: content_block_delta\ndata: x\n: c\nevent: ping\ndata: y\n\n",
    b"event: content_block_delta\ndata: \n\n",  # (usual: empty data)
    b"data: x\n\n",
    b"data: [DONE]\n\n",
]


#: Blocks of a data-only stream whose lines end in CRLF (Gemini's) that its bulk path must leave to the rules.
UNUSUAL_CRLF = [
    b": a comment\r\n\r\n",
    b"data: one\r\ndata: two\r\n\r\n",
    b"data: x\r\r\n\r\n",
    b"data: x\n\r\n",
    b"data: x\r\n\n",
    b"data: x\r\n\r\r\n",
    b"data: x\rdata: y\r\n\r\n",
    b"id: 3\r\ndata: x\r\n\r\n",
    b"data:x\r\n\r\n",
    b"data: \xff\xfe\r\n\r\n",
    b"event: ping\r\ndata: x\r\n\r\n",
    b"\r\n",
    b"data: x\r\n",  # (the next block's lines join this one)
    b"data: \r\n\r\n",  # (usual: empty data)
    b"data: [DONE]\r\n\r\n",
]


def named_block(rng: random.Random, kind: bytes = b"content_block_delta") -> bytes:
    """A usual ``event: kind`` + ``data: X`` block, X mostly JSON of random words, now and then the bare words."""
    text = b"".join(rng.choice(WORDS) for _ in range(rng.randint(0, 3)))
    return b"event: " + kind + b"\ndata: " + (text if rng.random() < 0.15 else DELTA % text) + b"\n\n"


def llm_stream(rng: random.Random) -> bytes:
    """A run of usual blocks, mostly of one type, with now and then another type or an unusual block."""
    blocks = []  # type: List[bytes]
    unusual = rng.choice([0.0, 0.0, 0.02, 0.1])
    others = rng.choice([0.0, 0.05, 0.2, 0.6])
    data_only = rng.random() < 0.3
    crlf = data_only and rng.random() < 0.5
    for _ in range(rng.randint(1, 60)):
        roll = rng.random()
        if roll < unusual:
            blocks.append(rng.choice(UNUSUAL_CRLF if crlf else UNUSUAL))
        elif crlf:
            blocks.append(b"data: " + DELTA % rng.choice(WORDS) + b"\r\n\r\n")
        elif data_only:
            blocks.append(b"data: " + DELTA % rng.choice(WORDS) + b"\n\n")
        else:
            blocks.append(named_block(rng, rng.choice(TYPES) if roll < unusual + others else b"content_block_delta"))
    head = rng.choice([b"", b"", b"", b"\xef\xbb\xbf", b"data: x\n", b"id: 1\n\n", b"data: x\r", b"id: 1\r\n\r\n"])
    tail = rng.choice([b"", b"", b"event: content_block_delta\n", b"event: content_block_delta\ndata: unterminated", b"\r", b"data: x\r\n"])
    return head + b"".join(blocks) + tail


def run(*blocks: bytes) -> bytes:
    return b"".join(blocks)


def deltas(count: int, kind: bytes = b"content_block_delta") -> bytes:
    """*count* usual blocks of type *kind*, numbered."""
    return b"".join(b"event: " + kind + b"\ndata: " + DELTA % str(i).encode() + b"\n\n" for i in range(count))


def lines_by_rules(chunks: List[bytes]) -> int:
    """How many lines the decoder of *chunks* left to the field rules (the others it cut in bulk)."""
    with mock.patch.object(SSEDecoder, "_apply_lines", autospec=True, side_effect=SSEDecoder._apply_lines) as applied:
        decoder = SSEDecoder()
        for chunk in chunks:
            decoder.feed(chunk)
    return sum(len(call[0][1]) for call in applied.call_args_list)  # (self, lines, events)


class Runs(DecoderProperties, unittest.TestCase):
    """Streams of the LLM shapes, under every chunking, against the reference."""

    def test_every_chunking_matches_the_reference(self) -> None:
        rng = random.Random(20261202)
        for _ in range(STREAMS):
            self.check_unlimited(llm_stream(rng), rng)

    def test_every_two_piece_split_of_short_runs(self) -> None:
        rng = random.Random(5)
        for _ in range(scaled(60)):
            data = llm_stream(rng)[:600]
            expected = reference(data)
            for cut in range(len(data) + 1):
                outcome = run_decoder([data[:cut], data[cut:]])
                self.assertEqual(outcome.events, expected.events, "cut at %d of %r" % (cut, data))

    def test_small_limits_raise_only_event_too_large_in_the_right_chunk(self) -> None:
        rng = random.Random(11)
        for _ in range(scaled(150)):
            data = llm_stream(rng)
            self.check_limited(data, rng.choice([60, 100, 120, 200, 400, 2000]), rng)

    def test_each_unusual_block_inside_a_run(self) -> None:
        rng = random.Random(3)
        for block in UNUSUAL:
            for data in (
                run(deltas(12), block, deltas(12)),  # in the middle
                run(block, deltas(12)),  # first
                run(deltas(1), block, deltas(12)),  # first of the bulk (the first block takes the rules)
                run(deltas(12), block),  # last
                run(deltas(12), block, deltas(2, b"ping"), deltas(12)),  # beside a block of another type
            ):
                with self.subTest(block=block, size=len(data)):
                    self.check_unlimited(data, rng)


class RunShapes(unittest.TestCase):
    """Where the blocks of other types sit in a run: each shape decodes as the rules say, in bulk."""

    def check(self, data: bytes) -> None:
        expected = reference(data).events
        self.assertEqual(run_decoder([data]).events, expected)
        self.assertEqual(run_decoder([data[:5], data[5:]]).events, expected)
        self.assertEqual(run_decoder([data[i : i + 700] for i in range(0, len(data), 700)]).events, expected)

    def test_shapes(self) -> None:
        stop_start = deltas(1, b"content_block_stop") + deltas(1, b"content_block_start")
        shapes = {
            "one type": deltas(100),
            "others first": run(deltas(1, b"message_start"), deltas(1, b"content_block_start"), deltas(1, b"ping"), deltas(100)),
            "others last": run(deltas(100), deltas(1, b"content_block_stop"), deltas(1, b"message_delta"), deltas(1, b"message_stop")),
            "a break": run(deltas(30), stop_start, deltas(70)),
            "three breaks": run(deltas(20), stop_start, deltas(40), stop_start, deltas(30), stop_start, deltas(30)),
            "breaks at both ends": run(stop_start, deltas(30), stop_start, deltas(50), stop_start),
            "a break in the middle": run(deltas(50), stop_start, deltas(50)),
            "two types alternate": b"".join(deltas(1, b"a") + deltas(1, b"b") for _ in range(60)),
            "every type differs": b"".join(deltas(1, b"type%d" % i) for i in range(300)),  # past the 256 names remembered
            "a rare type in the middle": run(deltas(3), deltas(1, b"rare"), deltas(3, b"other")),
            "empty data": run(deltas(5), b"event: content_block_delta\ndata: \n\n" * 3, deltas(1, b"ping"), deltas(5)),
            "empty data before another type": run(deltas(5), b"event: content_block_delta\ndata: \n\n", deltas(1, b"ping"), deltas(5)),
            "empty type": run(deltas(40, b""), deltas(1, b"ping"), deltas(40, b"")),
            "one block": deltas(2),
        }
        for name, data in shapes.items():
            with self.subTest(name):
                self.check(data)

    def test_usual_runs_are_cut_in_bulk(self) -> None:
        """Only the first block of a stream (the BOM check) takes the rules: the others, whatever their types, do not."""
        stop_start = deltas(1, b"content_block_stop") + deltas(1, b"content_block_start")
        stream = run(deltas(1, b"message_start"), deltas(1, b"ping"), deltas(60), stop_start, deltas(140), deltas(1, b"message_stop"))
        for data in (deltas(200), stream):
            self.assertEqual(lines_by_rules([data]), 3)
        data = run(deltas(100), b": keep-alive\n\n", deltas(100))
        self.assertGreater(lines_by_rules([data]), 300)  # (anything unusual: the whole run takes the rules)

    def test_usual_crlf_runs_are_cut_in_bulk(self) -> None:
        """Data-only blocks whose lines end in CRLF (Gemini's) are cut as they are, in any chunking that keeps whole blocks."""
        blocks = [b"data: " + DELTA % str(i).encode() + b"\r\n\r\n" for i in range(200)]
        self.assertEqual(lines_by_rules([run(*blocks)]), 2)  # (the first block: the BOM check)
        self.assertEqual(lines_by_rules([run(*blocks[:100]), run(*blocks[100:])]), 2)
        self.assertEqual(lines_by_rules([run(*blocks[:100])[:-1], b"\n" + run(*blocks[100:])]), 2)  # (a CR and its LF apart)
        data = run(*blocks[:100]) + b": keep-alive\r\n\r\n" + run(*blocks[100:])
        self.assertGreater(lines_by_rules([data]), 300)

    def test_pieces_with_lf_are_found_in_order(self) -> None:
        pieces = [b"a", b"\nb", b"", b"c\n", b"\n", b"d", b"\n\n"]
        self.assertEqual(_pieces_with_lf(pieces, 10), [1, 3, 4, 6])
        self.assertEqual(_pieces_with_lf(pieces, 4), [1, 3, 4, 6])
        self.assertIsNone(_pieces_with_lf(pieces, 3))
        self.assertEqual(_pieces_with_lf([b"x", b""], 0), [])
        self.assertEqual(_pieces_with_lf([], 0), [])

    def test_events_of_a_run_carry_the_last_event_id(self) -> None:
        data = run(b"id: 42\n\n", deltas(10), b"id: 43\n\n", deltas(10))
        events = run_decoder([data]).events
        self.assertEqual([event.id for event in events], ["42"] * 10 + ["43"] * 10)
        self.assertEqual(events[0], ServerSentEvent("content_block_delta", (DELTA % b"0").decode(), "42"))


if __name__ == "__main__":
    unittest.main()
