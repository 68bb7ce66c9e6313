"""The decoder against the WHATWG SSE parsing rules, chunking equivalence and limits."""
import pickle
import random
import unittest
from typing import List

from ssekit import EventTooLargeError, MalformedEventError, SSEDecoder, ServerSentEvent, iter_sse, iter_sse_lines
from ssekit.errors import SSEKitError
from ssekit.sse import MAX_RETRY
from tests.sizes import scaled
from tests.support import PeakMemory, assert_peak_below


def decode(data: bytes) -> list:
    return list(iter_sse([data]))


def random_chunkings(data: bytes, rng: random.Random, count: int):
    """Yield *count* random splits of *data*, plus one byte at a time."""
    yield [data[i : i + 1] for i in range(len(data))]
    for _ in range(count):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(0, min(20, len(data) - 1))))
        yield [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


class FieldRules(unittest.TestCase):
    def test_data_lines_join_with_newline_and_one_space_is_dropped(self) -> None:
        self.assertEqual(decode(b"data:  two spaces\ndata:none\n\n"), [ServerSentEvent(data=" two spaces\nnone")])

    def test_default_event_type_is_message_and_event_field_sets_it(self) -> None:
        events = decode(b"data: a\n\nevent: ping\ndata: b\n\ndata: c\n\n")
        self.assertEqual([e.event for e in events], ["message", "ping", "message"])

    def test_empty_data_buffer_is_not_dispatched(self) -> None:
        self.assertEqual(decode(b"event: x\n\nid: 1\n\n: only a comment\n\n\n\n"), [])

    def test_empty_data_field_dispatches_empty_string(self) -> None:
        self.assertEqual(decode(b"data\n\ndata:\n\n"), [ServerSentEvent(data=""), ServerSentEvent(data="")])

    def test_trailing_newline_of_data_is_removed_once(self) -> None:
        self.assertEqual(decode(b"data: a\ndata:\n\n")[0].data, "a\n")

    def test_comments_are_ignored(self) -> None:
        self.assertEqual(decode(b": hello\n:\ndata: x\n: mid\n\n"), [ServerSentEvent(data="x")])

    def test_unknown_fields_are_ignored(self) -> None:
        self.assertEqual(decode(b"foo: bar\nDATA: no\ndata: yes\n\n"), [ServerSentEvent(data="yes")])

    def test_field_without_colon_has_empty_value(self) -> None:
        self.assertEqual(decode(b"event\ndata\n\n"), [ServerSentEvent(event="message", data="")])

    def test_id_persists_and_is_none_until_seen(self) -> None:
        events = decode(b"data: a\n\nid: 7\ndata: b\n\ndata: c\n\nid\ndata: d\n\n")
        self.assertEqual([e.id for e in events], [None, "7", "7", ""])

    def test_id_with_nul_is_ignored(self) -> None:
        events = decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
        self.assertEqual([e.id for e in events], ["1", "1"])

    def test_id_set_in_an_undispatched_block_still_counts(self) -> None:
        self.assertEqual(decode(b"id: 5\n\ndata: x\n\n")[0].id, "5")

    def test_retry_only_when_all_ascii_digits(self) -> None:
        decoder = SSEDecoder()
        events = decoder.feed(
            b"retry: 1500\ndata: a\n\nretry: 15x\ndata: b\n\nretry: \xd9\xa3\ndata: c\n\nretry:\ndata: d\n\n"
        )
        self.assertEqual([e.retry for e in events], [1500, None, None, None])
        self.assertEqual(decoder.retry, 1500)

    def test_retry_of_any_length_saturates_and_never_raises(self) -> None:
        # Past 4,300 digits int() raises ValueError (Python 3.11+ and backports); the
        # spec makes it a valid value, which ssekit caps at MAX_RETRY.
        cases = [
            ("9" * 5000, MAX_RETRY),
            ("0" * 5000 + "1500", 1500),
            (str(MAX_RETRY), MAX_RETRY),
            (str(MAX_RETRY + 1), MAX_RETRY),
            ("0" * 25 + "12", 12),
            ("1" + "0" * 19, MAX_RETRY),
        ]
        for digits, expected in cases:
            with self.subTest(digits=digits[:30]):
                stream = b"retry: " + digits.encode() + b"\ndata: x\n\n"
                for chunks in ([stream], [stream[i : i + 1] for i in range(len(stream))]):
                    decoder = SSEDecoder()
                    events = [event for chunk in chunks for event in decoder.feed(chunk)]
                    self.assertEqual(events, [ServerSentEvent(data="x", retry=expected)])
                    self.assertEqual(decoder.retry, expected)

    def test_retry_alone_updates_reconnection_time(self) -> None:
        decoder = SSEDecoder()
        self.assertEqual(decoder.feed(b"retry: 10000\n\n"), [])
        self.assertEqual(decoder.retry, 10000)

    def test_space_in_field_name_is_not_trimmed(self) -> None:
        self.assertEqual(decode(b"data : x\ndata: y\n\n"), [ServerSentEvent(data="y")])

    def test_json_helper(self) -> None:
        self.assertEqual(ServerSentEvent(data='{"a": [1]}').json(), {"a": [1]})
        with self.assertRaises(MalformedEventError) as caught:
            ServerSentEvent(data="{oops").json()
        self.assertIsInstance(caught.exception, SSEKitError)
        self.assertIsInstance(caught.exception, ValueError)
        self.assertIn("{oops", str(caught.exception))


class EventObject(unittest.TestCase):
    def test_fields_are_read_only(self) -> None:
        event = ServerSentEvent("e", "d", "1", 5)
        for name in ("event", "data", "id", "retry"):
            with self.subTest(field=name):
                with self.assertRaises(AttributeError):
                    setattr(event, name, "x")
                with self.assertRaises(AttributeError):
                    delattr(event, name)
        with self.assertRaises(AttributeError):
            event.extra = 1  # type: ignore[attr-defined]
        self.assertEqual(event, ServerSentEvent(event="e", data="d", id="1", retry=5))
        self.assertEqual(event._replace(data="new"), ServerSentEvent("e", "new", "1", 5))

    def test_construction_defaults_by_position_and_keyword(self) -> None:
        self.assertEqual(tuple(ServerSentEvent()), ("message", "", None, None))
        self.assertEqual(ServerSentEvent("ping", "x"), ServerSentEvent(event="ping", data="x", id=None, retry=None))
        self.assertEqual(ServerSentEvent(data="x", retry=3).retry, 3)

    def test_equality_and_hash_are_by_fields_and_only_between_events(self) -> None:
        one, same, other = ServerSentEvent("e", "d", "1"), ServerSentEvent("e", "d", "1"), ServerSentEvent("e", "d", "2")
        self.assertTrue(one == same and not one != same and hash(one) == hash(same))
        self.assertTrue(one != other and not one == other)
        self.assertEqual(len({one, same, other}), 2)
        plain = ("e", "d", "1", None)
        self.assertFalse(one == plain or plain == one)
        self.assertTrue(one != plain and plain != one)
        self.assertNotEqual(one, "e")

    def test_repr_is_readable_and_evaluates_back(self) -> None:
        event = ServerSentEvent("e", "d\n", None, 10)
        self.assertEqual(repr(event), "ServerSentEvent(event='e', data='d\\n', id=None, retry=10)")
        self.assertEqual(eval(repr(event)), event)

    def test_decoded_events_are_exactly_the_class_and_pickle(self) -> None:
        events = decode(b"data: a\n\nevent: e\ndata: b\n\nid: 1\nretry: 2\ndata: c\n\n")
        self.assertEqual([type(event) for event in events], [ServerSentEvent] * 3)
        self.assertEqual(pickle.loads(pickle.dumps(events)), events)
        self.assertEqual(events[2], ServerSentEvent("message", "c", "1", 2))


class LinesAndEncoding(unittest.TestCase):
    def test_all_line_endings(self) -> None:
        for eol in (b"\n", b"\r", b"\r\n"):
            with self.subTest(eol=eol):
                data = b"event: e" + eol + b"data: 1" + eol + b"data: 2" + eol + eol
                self.assertEqual(decode(data), [ServerSentEvent(event="e", data="1\n2")])

    def test_mixed_line_endings(self) -> None:
        self.assertEqual(decode(b"data: a\rdata: b\r\ndata: c\n\r\n"), [ServerSentEvent(data="a\nb\nc")])

    def test_cr_then_lf_across_chunks_is_one_line_end(self) -> None:
        self.assertEqual(list(iter_sse([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])), [ServerSentEvent(data="a\nb")])

    def test_lf_cr_is_two_line_ends(self) -> None:
        self.assertEqual(decode(b"data: a\n\rdata: b\n\n"), [ServerSentEvent(data="a"), ServerSentEvent(data="b")])

    def test_one_leading_bom_is_dropped(self) -> None:
        self.assertEqual(decode(b"\xef\xbb\xbfdata: a\n\n"), [ServerSentEvent(data="a")])
        # A second BOM is part of the first field name, which is then unknown.
        self.assertEqual(decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n"), [ServerSentEvent(data="b")])

    def test_bom_split_across_chunks(self) -> None:
        self.assertEqual(list(iter_sse([b"\xef", b"\xbb", b"\xbfdata: a\n\n"])), [ServerSentEvent(data="a")])

    def test_bom_not_at_start_is_kept(self) -> None:
        self.assertEqual(decode(b"data: \xef\xbb\xbfa\n\n")[0].data, "\ufeffa")

    def test_invalid_utf8_becomes_replacement_characters(self) -> None:
        self.assertEqual(decode(b"data: a\xffb\xe2\x82\n\n")[0].data, "a\ufffdb\ufffd")

    def test_multibyte_character_split_between_chunks(self) -> None:
        data = "data: h\u00e9llo \u20ac \U0001f600\n\n".encode("utf-8")
        for cut in range(1, len(data)):
            self.assertEqual(list(iter_sse([data[:cut], data[cut:]]))[0].data, "h\u00e9llo \u20ac \U0001f600")

    def test_unicode_line_separators_are_not_line_ends(self) -> None:
        self.assertEqual(decode("data: a\u2028b\x85c\n\n".encode("utf-8"))[0].data, "a\u2028b\x85c")

    def test_unterminated_event_at_end_is_not_dispatched(self) -> None:
        decoder = SSEDecoder()
        self.assertEqual(decoder.feed(b"data: a\n\ndata: b\n"), [ServerSentEvent(data="a")])
        self.assertTrue(decoder.pending)
        self.assertEqual(decoder.close(), [])
        self.assertEqual(decode(b"data: a"), [])

    def test_event_is_returned_by_the_feed_that_completes_it(self) -> None:
        decoder = SSEDecoder()
        self.assertEqual(decoder.feed(b"data: a\n"), [])
        self.assertEqual(decoder.feed(b"\n"), [ServerSentEvent(data="a")])
        self.assertEqual(decoder.feed(b"data: b\r"), [])
        # The CR is already a complete line end: no need to wait for a possible LF.
        self.assertEqual(decoder.feed(b"\r"), [ServerSentEvent(data="b")])
        self.assertFalse(decoder.pending)

    def test_iter_sse_lines_accepts_bytes_and_str(self) -> None:
        lines = [b"event: x", "data: \u00e9", b"", "data: y", ""]
        self.assertEqual(list(iter_sse_lines(lines)), [ServerSentEvent("x", "\u00e9"), ServerSentEvent(data="y")])

    def test_iter_sse_lines_turns_lone_surrogates_into_replacement_characters(self) -> None:
        events = list(iter_sse_lines(["data: a\udcffb", ""]))
        self.assertEqual(events, [ServerSentEvent(data="a\ufffd\ufffd\ufffdb")])


STREAMS = [
    b"\xef\xbb\xbfdata: a\r\ndata:b\r\n\r\n: c\nid: 7\nevent: x\ndata\n\nretry: 10\n\nretry: 1x\n"
    b"data: \xe2\x82\xac\xff\r\rdata: tail",
    b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi \xc3\xa9\"}}]}\n\n" * 20 + b"data: [DONE]\n\n",
    b"event: message_start\r\ndata: {}\r\n\r\n:keepalive\r\n\r\nid: \x00bad\r\ndata: x\r\n\r\n\r\r\n\n",
    b"\r\r\n\n\r\ndata:\r\ndata\rdata: \r\n\n\xf0\x9f\x98\x80: x\ndata: \xf0\x9f\x98\n\n",
    b"".join(
        random.Random(seed).choice([b"data: x", b"data:\xc3\xa9", b"event: e", b"id: 1", b":c", b"retry: 5", b"\xff", b""])
        + random.Random(seed + 1).choice([b"\n", b"\r", b"\r\n"])
        for seed in range(400)
    ),
]


class ChunkingEquivalence(unittest.TestCase):
    def test_every_chunking_gives_the_same_events(self) -> None:
        rng = random.Random(20261121)
        for index, data in enumerate(STREAMS):
            expected = decode(data)
            for chunks in random_chunkings(data, rng, 200):
                self.assertEqual(list(iter_sse(chunks)), expected, "stream %d" % index)

    def test_state_is_reported_on_the_decoder(self) -> None:
        decoder = SSEDecoder()
        for byte in b"id: 9\nretry: 250\ndata: x\n\n":
            decoder.feed(bytes([byte]))
        self.assertEqual((decoder.last_event_id, decoder.retry), ("9", 250))


class Limits(unittest.TestCase):
    def test_long_unterminated_line_raises(self) -> None:
        decoder = SSEDecoder(max_event_size=1000)
        with self.assertRaises(EventTooLargeError) as caught:
            for _ in range(100):
                decoder.feed(b"data: " + b"x" * 50)
        self.assertEqual(caught.exception.limit, 1000)
        self.assertIn("1000", str(caught.exception))

    def test_long_line_in_one_chunk_raises(self) -> None:
        with self.assertRaises(EventTooLargeError):
            SSEDecoder(max_event_size=100).feed(b": " + b"c" * 200 + b"\n")

    def test_event_of_many_lines_raises(self) -> None:
        decoder = SSEDecoder(max_event_size=1000)
        with self.assertRaises(EventTooLargeError):
            for _ in range(100):
                decoder.feed(b"data: " + b"y" * 20 + b"\n")

    def test_many_events_under_the_limit_are_fine(self) -> None:
        decoder = SSEDecoder(max_event_size=100)
        events = decoder.feed(b"data: 0123456789\n\n" * 1000)
        self.assertEqual(len(events), 1000)

    def test_endless_line_in_tiny_reads_holds_about_the_limit(self) -> None:
        # Each read used to be kept as its own bytes object (~35 bytes of overhead
        # apiece), so a line trickled in 1-byte reads held ~35x the limit.
        limit = scaled(1 << 18)
        memories = []
        for size in (1, 2, 7):
            with self.subTest(read_size=size):
                decoder = SSEDecoder(limit)
                piece = b"d" * size
                fed = 0
                with PeakMemory() as memory, self.assertRaises(EventTooLargeError):
                    while fed <= limit:
                        decoder.feed(piece)
                        fed += size
                self.assertLessEqual(fed, limit)  # refused at the read that crossed the limit
                memories.append(memory)
        assert_peak_below(self, memories, 1.5 * limit)

    def test_line_of_many_tiny_reads_is_delivered_whole(self) -> None:
        decoder = SSEDecoder(1000)
        line = b"data: " + bytes(range(32, 127)) * 10
        for index in range(0, len(line), 3):
            self.assertEqual(decoder.feed(line[index : index + 3]), [])
        self.assertEqual(decoder.feed(b"\n\n"), [ServerSentEvent(data=line[6:].decode())])
        self.assertFalse(decoder.pending)

    def test_event_of_many_short_data_lines_holds_about_the_limit(self) -> None:
        # A list of tiny strings held ~60 bytes per line where the limit counts 1 to 3. The peak is
        # traced at two limits: what doubling the limit adds is what the held lines cost (the fixed
        # part, some tens of KiB, would hide it at small limits).
        limit = scaled(1 << 17)
        for line in (b"data:ab\n", b"data:\n"):
            peaks = []  # type: List[PeakMemory]
            for size in (limit // 2, limit):
                decoder = SSEDecoder(size)
                with PeakMemory() as memory, self.assertRaises(EventTooLargeError):
                    for _ in range(size):
                        decoder.feed(line * 256)
                peaks.append(memory)
            assert_peak_below(self, peaks, 1.5 * limit + 128 * 1024)  # (skips where nothing could be traced)
            added = peaks[1].peak - peaks[0].peak  # type: ignore[operator]
            self.assertLess(added, 1.5 * (limit - limit // 2), "%r: %d more bytes for %d more" % (line, added, limit - limit // 2))

    def test_event_of_many_data_lines_is_exact_under_any_chunking(self) -> None:
        rng = random.Random(5)
        values = ["", "a", "bc", " d", "\u00e9", "x" * 40]
        data = [rng.choice(values) for _ in range(5000)]
        body = b"".join(b"data: " + value.encode() + b"\n" for value in data) + b"\n"
        for chunks in random_chunkings(body, rng, 3):
            self.assertEqual(list(iter_sse(chunks)), [ServerSentEvent(data="\n".join(data))])

    def test_default_limit_is_some_mebibytes(self) -> None:
        self.assertGreaterEqual(SSEDecoder().max_event_size, 1024 * 1024)
        event = decode(b"data: " + b"z" * 1000000 + b"\n\n")[0]
        self.assertEqual(len(event.data), 1000000)


if __name__ == "__main__":
    unittest.main()
