"""Typed progress: ``iter_updates`` over every format's streams, and ``CompletionStream.updates()`` over a real socket.

The records are checked against what the same stream accumulates to: the text
and reasoning they carry join to the Completion's, each tool call starts once,
streams fragments that join to its arguments (each with the arguments parsed
so far, equal to parsing that prefix whole), and ends once with the
Completion's own ToolCall; usage and the finish reason come last.
"""
import json
import random
import threading
import unittest
from typing import Any, Dict, List

import ssekit
from ssekit import IncompleteStreamError, SSEKitError, accumulate, iter_sse, iter_updates, parse_partial_json
from ssekit.formats import FORMATS, ChatCompletionsAccumulator
from ssekit.testing import LocalGateway, sample_request
from ssekit.testing.builders import build_events, chat_completions_events, chunkings, sse_event
from ssekit.testing.server import ScriptedResponse, SSEServer
from ssekit.updates import FinishUpdate, TextUpdate, ToolCallDelta, ToolCallDone, ToolCallStart, UsageUpdate, update_to_dict

#: Formats with tool calls and reasoning, and the builder keywords that give them both.
TOOL_FORMATS = ("chat_completions", "responses", "messages", "cohere", "gemini")
CALLS = [
    {"name": "get_weather", "arguments": '{"city": "Par\\u00eds", "days": [1, 2.5e1, -3], "units": null, "ok": true}'},
    {"name": "get_time", "arguments": "{}"},
]


def stream_of(format: str, **options: Any) -> List[Any]:
    """The decoded events of *format*'s built stream."""
    return list(iter_sse(build_events(format, "Bonjour, le monde", **options)))


def options_for(format: str) -> Dict[str, Any]:
    if format == "generation":  # (no tool calls, no reasoning)
        return {}
    return {"tool_calls": CALLS, "reasoning": "First think, then call."}


class Records(unittest.TestCase):
    """The records of a stream agree with what the stream accumulates to."""

    def check(self, format: str, events: List[Any], watched_as: str = "") -> None:
        completion = accumulate(events, format)
        updates = list(iter_updates(events, watched_as or format))  # (kept: each record keeps what it said)
        kinds = [update.kind for update in updates]
        self.assertEqual("".join(u.text for u in updates if u.kind == "text"), completion.text)
        reasoning = "".join(u.text for u in updates if u.kind == "reasoning")
        self.assertEqual(reasoning, completion.reasoning.replace("\n\n", ""))
        # Tool calls: one start, fragments, one done each, in that order, agreeing with the Completion.
        for call in completion.tool_calls:
            mine = [i for i, u in enumerate(updates) if getattr(u, "tool_index", None) == call.index
                    or (isinstance(u, ToolCallDone) and u.tool_call.index == call.index)]  # fmt: skip
            kinds_of_call = [updates[i].kind for i in mine]
            self.assertEqual(kinds_of_call[0], "tool_call_start")
            self.assertEqual(kinds_of_call[-1], "tool_call_done")
            self.assertEqual(kinds_of_call.count("tool_call_start"), 1)
            self.assertEqual(kinds_of_call.count("tool_call_done"), 1)
            start, done = updates[mine[0]], updates[mine[-1]]
            assert isinstance(start, ToolCallStart) and isinstance(done, ToolCallDone)
            self.assertEqual((start.id, start.name), (call.id, call.name))
            self.assertEqual(done.tool_call, call)
            deltas = [i for i in mine if isinstance(updates[i], ToolCallDelta)]
            fragments = ""
            for i in deltas:
                delta = updates[i]
                assert isinstance(delta, ToolCallDelta)
                fragments += delta.fragment
                self.assertEqual((delta.id, delta.name), (call.id, call.name))
                self.assertTrue(delta.valid)
                self.assertEqual(delta.arguments, parse_partial_json(fragments), "arguments so far after %r" % fragments)
            self.assertEqual(fragments, call.arguments)
        self.assertEqual(kinds.count("tool_call_start"), len(completion.tool_calls))
        # Usage and the finish reason: the Completion's, the finish once and last.
        usages = [u for u in updates if isinstance(u, UsageUpdate)]
        if completion.usage:
            self.assertEqual(usages[-1].usage, completion.usage)
            self.assertTrue(usages[-1].usage.final)
        finishes = [u for u in updates if isinstance(u, FinishUpdate)]
        self.assertEqual(len(finishes), 1)
        self.assertEqual((finishes[0].finish_reason, finishes[0].raw_finish_reason), (completion.finish_reason, completion.raw_finish_reason))
        self.assertNotIn("tool_call_delta", kinds[kinds.index("finish"):])

    def test_every_format_text_reasoning_and_two_tool_calls(self) -> None:
        for format in sorted(FORMATS):
            with self.subTest(format=format):
                self.check(format, stream_of(format, **options_for(format)))

    def test_every_format_under_format_auto(self) -> None:
        for format in sorted(FORMATS):
            with self.subTest(format=format):
                self.check(format, stream_of(format, **options_for(format)), watched_as="auto")

    def test_text_only_streams_give_text_usage_and_finish(self) -> None:
        for format in sorted(FORMATS):
            with self.subTest(format=format):
                updates = list(iter_updates(stream_of(format), format))
                self.assertLessEqual({"text", "finish"}, {u.kind for u in updates})
                self.assertLessEqual({u.kind for u in updates}, {"text", "usage", "finish"})

    def test_the_same_records_under_any_chunking_of_the_bytes(self) -> None:
        for format in TOOL_FORMATS:
            data = b"".join(build_events(format, "Bonjour, le monde", **options_for(format)))
            expected = list(iter_updates(iter_sse([data]), format))
            for chunks in chunkings(data, seed=7, count=3):
                with self.subTest(format=format, chunks=len(chunks)):
                    self.assertEqual(list(iter_updates(iter_sse(chunks), format)), expected)

    def test_interleaved_parallel_chat_calls_in_random_fragments(self) -> None:
        rng = random.Random(3)
        arguments = [json.dumps({"q": "x" * rng.randint(0, 30), "n": list(range(rng.randint(0, 5)))}) for _ in range(4)]
        fragments = []
        for index, text in enumerate(arguments):
            cuts = sorted(rng.sample(range(1, len(text)), 3))
            pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
            fragments.append([{"index": index, "id": "call_%d" % index, "type": "function", "function": {"name": "f%d" % index, "arguments": ""}}]
                             + [{"index": index, "function": {"arguments": piece}} for piece in pieces])  # fmt: skip
        chunks = [sse_event({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant"}}]})]
        while any(fragments):
            queue = rng.choice([queue for queue in fragments if queue])
            chunks.append(sse_event({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"tool_calls": [queue.pop(0)]}}]}))
        chunks.append(sse_event({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}))
        chunks.append(b"data: [DONE]\n\n")
        self.check("chat_completions", list(iter_sse(chunks)))

    def test_only_the_first_choice_is_reported(self) -> None:
        chunks = [
            sse_event({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "zero"}}, {"index": 1, "delta": {"content": "one", "reasoning_content": "hm"}}]}),
            sse_event({"object": "chat.completion.chunk", "choices": [{"index": 1, "delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}]}}]}),
            sse_event({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}, {"index": 1, "delta": {}, "finish_reason": "tool_calls"}]}),
            b"data: [DONE]\n\n",
        ]
        updates = list(iter_updates(iter_sse(chunks), "chat_completions"))
        self.assertEqual(updates, [TextUpdate("zero"), FinishUpdate("stop", "stop")])

    def test_arguments_that_stop_being_json_are_marked_not_raised(self) -> None:
        events = list(iter_sse(chat_completions_events(tool_calls=[{"name": "f", "arguments": '{"a": 1} trailing'}])))
        updates = list(iter_updates(events, "chat_completions"))
        deltas = [u for u in updates if isinstance(u, ToolCallDelta)]
        self.assertTrue(deltas[0].valid)
        self.assertFalse(deltas[-1].valid)
        self.assertEqual(deltas[-1].arguments, {"a": 1})
        done = [u for u in updates if isinstance(u, ToolCallDone)]
        self.assertEqual(done[0].tool_call.arguments, '{"a": 1} trailing')

    def test_a_stream_cut_short_ends_with_the_partial_answer(self) -> None:
        events = stream_of("messages", **options_for("messages"))[:-3]
        seen = []
        with self.assertRaises(IncompleteStreamError) as caught:
            for update in iter_updates(events, "messages"):
                seen.append(update)
        self.assertEqual("".join(u.text for u in seen if u.kind == "text"), caught.exception.partial.text)
        self.assertNotIn("finish", [u.kind for u in seen])

    def test_the_plain_accumulator_reports_nothing(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        for event in stream_of("chat_completions", tool_calls=CALLS):
            accumulator.add(event)
        self.assertIsNone(accumulator.progress)
        with self.assertRaises(SSEKitError):
            accumulator.updates_after("")

    def test_records_are_read_only(self) -> None:
        record = TextUpdate("x")
        with self.assertRaises(AttributeError):
            record.text = "y"  # type: ignore[misc]
        delta = ToolCallDelta(0, "c", "f", '{"a', {"a": ""})
        for field in ("tool_index", "id", "name", "fragment", "arguments", "valid"):
            with self.assertRaises(AttributeError):
                setattr(delta, field, None)


class DeltaArguments(unittest.TestCase):
    """A tool_call_delta's arguments are parsed when first read, each fragment once, and always say their own prefix."""

    arguments = '{"city": "Paris", "days": [1, 2.5, {"am": true}], "note": "\\u00e9t\\u00e9"} trailing'

    def deltas(self) -> List[ToolCallDelta]:
        events = iter_sse(chat_completions_events(tool_calls=[{"name": "f", "arguments": self.arguments}]))
        return [u for u in iter_updates(events, "chat_completions") if isinstance(u, ToolCallDelta)]

    def expected(self, deltas: List[ToolCallDelta]) -> List[Any]:
        """(arguments, valid) of each record, from each prefix parsed whole."""
        said, prefix = [], ""
        for delta in deltas:
            prefix += delta.fragment
            try:
                said.append((parse_partial_json(prefix), True))
            except ssekit.PartialJSONError:  # what came before the offending character
                parser = ssekit.PartialJSONParser()
                self.assertRaises(ssekit.PartialJSONError, parser.feed, prefix)
                said.append((parser.value, False))
        return said

    def test_in_order_each_fragment_is_parsed_once_and_unread_ones_not_at_all(self) -> None:
        fed = []  # type: List[str]
        original = ssekit.PartialJSONParser.feed

        def counting_feed(parser: Any, fragment: str) -> None:
            fed.append(fragment)
            original(parser, fragment)

        ssekit.PartialJSONParser.feed = counting_feed  # type: ignore[assignment]
        try:
            deltas = self.deltas()
            self.assertEqual(fed, [], "nothing parsed before a record's arguments are read")
            said = [(delta.arguments, delta.valid) for delta in deltas]
        finally:
            ssekit.PartialJSONParser.feed = original  # type: ignore[assignment]
        self.assertEqual(said, self.expected(deltas))
        self.assertEqual(said[-1], ({"city": "Paris", "days": [1, 2.5, {"am": True}], "note": "\u00e9t\u00e9"}, False))
        self.assertTrue(said[0][1])
        self.assertTrue(self.arguments.startswith("".join(fed)), "each fragment fed once, up to the offending one")

    def test_any_reading_order_gives_each_record_its_own_prefix(self) -> None:
        for order in ("reversed", "shuffled", "last first"):
            with self.subTest(order=order):
                deltas = self.deltas()
                positions = list(range(len(deltas)))
                if order == "reversed":
                    positions.reverse()
                elif order == "shuffled":
                    random.Random(5).shuffle(positions)
                else:
                    positions = positions[-1:] + positions[:-1]
                said = {position: (deltas[position].arguments, deltas[position].valid) for position in positions}
                self.assertEqual([said[position] for position in range(len(deltas))], self.expected(deltas))

    def test_threads_reading_the_same_records_each_get_the_right_arguments(self) -> None:
        deltas = self.deltas()
        expected = self.expected(deltas)
        seen = {}  # type: Dict[int, List[Any]]

        def read(seed: int) -> None:
            positions = list(range(len(deltas)))
            random.Random(seed).shuffle(positions)
            said = {position: (deltas[position].arguments, deltas[position].valid) for position in positions}
            seen[seed] = [said[position] for position in range(len(deltas))]

        threads = [threading.Thread(target=read, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(seen, {seed: expected for seed in range(8)})

    def test_a_record_keeps_what_it_said(self) -> None:
        deltas = self.deltas()
        kept = [json.dumps(delta.arguments) for delta in deltas]
        self.assertEqual([json.dumps(delta.arguments) for delta in deltas], kept)

    def test_a_record_is_compared_shown_and_dumped_by_its_six_fields(self) -> None:
        delta = self.deltas()[3]
        made = ToolCallDelta(delta.tool_index, delta.id, delta.name, delta.fragment, delta.arguments, delta.valid)
        self.assertEqual(delta, made)
        self.assertNotEqual(delta, ToolCallDelta(delta.tool_index, delta.id, delta.name, delta.fragment, {"x": 1}))
        self.assertEqual(repr(delta), repr(made))
        self.assertIn("arguments=", repr(delta))
        self.assertEqual(ssekit.updates.update_to_dict(delta), dict(made._asdict(), kind="tool_call_delta"))


class OverTheWire(unittest.TestCase):
    """``CompletionStream.updates()`` against the local gateway."""

    def test_every_format_streamed_and_whole(self) -> None:
        with LocalGateway(answer="Il fait beau.") as gateway:
            for format in sorted(FORMATS):
                for stream in (True, False):
                    with self.subTest(format=format, stream=stream):
                        url = gateway.url(format, stream=stream)
                        with ssekit.stream_completion(url, json=sample_request(format, stream=stream), timeout=10) as answer:
                            updates = list(answer.updates())
                        self.assertEqual("".join(u.text for u in updates if u.kind == "text"), "Il fait beau.")
                        finish = FinishUpdate(answer.completion.finish_reason, answer.completion.raw_finish_reason)
                        self.assertEqual([u for u in updates if u.kind == "finish"], [finish])

    def test_the_records_of_tool_call_streams_are_those_of_their_bytes(self) -> None:
        # The stream's loop makes a tool call's common fragment record on its own path: it must agree with iter_updates.
        with SSEServer() as server:
            for format in TOOL_FORMATS:
                with self.subTest(format=format):
                    events = build_events(format, "Bonjour, le monde", **options_for(format))
                    expected = [update_to_dict(u) for u in iter_updates(iter_sse(events), format)]
                    server.script("/" + format, ScriptedResponse.sse(events))
                    with ssekit.stream_completion(server.url("/" + format), format=format, json={}, timeout=10) as answer:
                        self.assertEqual([update_to_dict(u) for u in answer.updates()], expected)
                    self.assertIn("tool_call_delta", [record["kind"] for record in expected])

    def test_updates_after_text_iteration_began_is_refused(self) -> None:
        with LocalGateway(answer="one two three") as gateway:
            with ssekit.stream_completion(gateway.url("chat_completions"), json=sample_request("chat_completions"), timeout=10) as answer:
                next(iter(answer))
                with self.assertRaises(SSEKitError):
                    next(answer.updates())


if __name__ == "__main__":
    unittest.main()
