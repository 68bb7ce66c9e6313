"""From one streamed answer to the next request: to_messages() and tool_results() in each provider's shape."""
import copy
import dataclasses
import json
import unittest
from typing import Any, Dict, List

from ssekit import (ChatCompletionsAccumulator, MessagesAccumulator, ResponsesAccumulator, SSEKitError, ToolCall,
                    UnsupportedFormatError, accumulate, iter_sse, tool_results)  # fmt: skip
from ssekit.errors import PartialJSONError
from ssekit.formats import FORMATS
from ssekit.partial_json import PartialJSONParser, parse_partial_json
from ssekit.testing.builders import build_events
from tests import test_output

CALLS = [{"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
         {"id": "call_2", "name": "get_time", "arguments": "{}"}]  # fmt: skip


class AssistantTurns(unittest.TestCase):
    def test_anthropic_turn_is_every_block_verbatim(self) -> None:
        completion = test_output.feed(MessagesAccumulator(), test_output.AnthropicBlocks().events())
        turn = completion.to_messages()
        self.assertEqual(turn, [{"role": "assistant", "content": completion.output}])
        self.assertEqual([block["type"] for block in turn[0]["content"]],
                         ["thinking", "redacted_thinking", "thinking", "text", "tool_use"])  # fmt: skip
        turn[0]["content"].clear()
        self.assertEqual(len(completion.to_messages()[0]["content"]), 5, "each call gives a fresh copy")

    def test_responses_turn_is_the_output_items_in_order(self) -> None:
        events = build_events("responses", "Both.", reasoning="Plan it.", tool_calls=CALLS)
        completion = accumulate(iter_sse(events))
        turn = completion.to_messages()
        self.assertEqual([item["type"] for item in turn], ["reasoning", "message", "function_call", "function_call"])
        self.assertEqual(turn[0]["id"], "rs_0123456789")
        self.assertEqual(turn[0]["summary"], [{"type": "summary_text", "text": "Plan it."}])
        self.assertEqual([(item["call_id"], item["id"]) for item in turn[2:]], [("call_1", "fc_0000000000"), ("call_2", "fc_0000000001")])

    def test_chat_turn_keeps_reasoning_content_on_tool_call_turns_only(self) -> None:
        with_calls = accumulate(iter_sse(build_events("chat_completions", reasoning="Hmm.", tool_calls=CALLS)))
        message, = with_calls.to_messages()
        self.assertEqual(message["reasoning_content"], "Hmm.")
        self.assertEqual([call["function"]["name"] for call in message["tool_calls"]], ["get_weather", "get_time"])
        self.assertIsNone(message["content"])
        text_only = accumulate(iter_sse(build_events("chat_completions", "Hi.", reasoning="Hmm.")))
        self.assertEqual(text_only.to_messages(), [{"role": "assistant", "content": "Hi."}])
        self.assertEqual(text_only.to_messages(reasoning=True)[0]["reasoning_content"], "Hmm.")
        self.assertNotIn("reasoning_content", with_calls.to_messages(reasoning=False)[0])

    def test_chat_turn_with_nothing_said_has_empty_content(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        accumulator.add({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": "stop"}]})
        self.assertEqual(accumulator.completion.to_messages(), [{"role": "assistant", "content": ""}])

    def test_generation_turn_is_plain_text(self) -> None:
        completion = accumulate(iter_sse(build_events("generation", "Done.")))
        self.assertEqual(completion.to_messages(), [{"role": "assistant", "content": "Done."}])

    def test_an_unformatted_completion_says_so(self) -> None:
        with self.assertRaises(SSEKitError):
            accumulate(["[DONE]"]).to_messages()


class ToolResults(unittest.TestCase):
    calls = [ToolCall(0, "call_1", "get_weather", "{}"), ToolCall(1, "call_2", "get_time", "{}")]

    def results(self) -> List[Any]:
        return [(self.calls[0], {"temp": 21}), (self.calls[1], "clock broke", True)]

    def test_chat_one_tool_message_per_call(self) -> None:
        self.assertEqual(tool_results("chat_completions", self.results()), [
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
            {"role": "tool", "tool_call_id": "call_2", "content": "Error: clock broke"},
        ])  # fmt: skip

    def test_responses_one_output_item_per_call(self) -> None:
        self.assertEqual(tool_results("responses", self.results()), [
            {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 21}'},
            {"type": "function_call_output", "call_id": "call_2", "output": "Error: clock broke"},
        ])  # fmt: skip

    def test_messages_one_user_message_with_every_result(self) -> None:
        message, = tool_results("messages", self.results())
        expected = [
            {"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp": 21}'},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "clock broke", "is_error": True},
        ]  # type: List[Dict[str, Any]]
        self.assertEqual(message, {"role": "user", "content": expected})
        self.assertEqual(tool_results("messages", []), [])

    def test_bad_results_and_formats_are_clear_errors(self) -> None:
        with self.assertRaises(SSEKitError):
            tool_results("chat_completions", [("not a call", "x")])
        with self.assertRaises(UnsupportedFormatError):
            tool_results("nope", [])
        with self.assertRaises(UnsupportedFormatError):
            tool_results("generation", self.results())

    def test_a_turn_and_its_results_round_trip_through_the_responses_stream(self) -> None:
        accumulator = ResponsesAccumulator()
        for event in iter_sse(build_events("responses", tool_calls=CALLS)):
            accumulator.add(event)
        completion = accumulator.finish()
        items = completion.to_messages() + tool_results("responses", [(call, "ok") for call in completion.tool_calls])
        self.assertEqual([item.get("call_id") for item in items if item["type"] == "function_call_output"], ["call_1", "call_2"])



class PartialArguments(unittest.TestCase):
    def test_arguments_parsed_so_far_at_every_fragment(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        arguments = '{"city": "Paris", "days": [1, 2], "unit": "celsius"}'
        seen = []
        for start in range(0, len(arguments), 5):
            accumulator.add({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": arguments[start:start + 5]}}]}}]})
            seen.append(accumulator.completion.tool_calls[0].partial_arguments())
        self.assertEqual(seen[0], {})
        self.assertIn({"city": ""}, seen)
        self.assertIn({"city": "Paris", "days": [1, 2], "unit": "ce"}, seen)
        self.assertIn({"city": "Paris", "days": [1]}, seen)
        self.assertEqual(seen[-1], {"city": "Paris", "days": [1, 2], "unit": "celsius"})
        self.assertEqual(ToolCall(0, "c", "f", "").partial_arguments(), {})

    def snapshots(self, format: str, arguments: str) -> List[ToolCall]:
        """The call as it was after each event of a *format* stream of one tool call with *arguments*."""
        accumulator = FORMATS[format].accumulator()
        seen = []
        for event in iter_sse(build_events(format, tool_calls=[{"name": "f", "arguments": arguments}])):
            accumulator.add(event)
            calls = accumulator.completion.tool_calls
            if calls and (not seen or calls[0].arguments != seen[-1].arguments):
                seen.append(calls[0])
        return seen

    def test_every_streamed_format_reads_each_fragment_once(self) -> None:
        arguments = json.dumps({"city": "Paris", "days": [1, 2.5, {"am": True}], "note": "\u00e9t\u00e9 \"hot\""})
        fed = []  # type: List[str]
        original = PartialJSONParser.feed

        def counting_feed(parser: PartialJSONParser, fragment: str) -> None:
            fed.append(fragment)
            original(parser, fragment)

        for format in ("chat_completions", "responses", "messages", "cohere"):
            with self.subTest(format=format):
                del fed[:]
                PartialJSONParser.feed = counting_feed  # type: ignore[assignment]
                try:
                    snapshots = self.snapshots(format, arguments)
                    values = [call.partial_arguments() for call in snapshots]
                finally:
                    PartialJSONParser.feed = original  # type: ignore[assignment]
                self.assertGreater(len(snapshots), 5)
                self.assertEqual(values, [said_so_far(call) for call in snapshots])
                self.assertEqual(values[-1], json.loads(arguments))
                self.assertEqual("".join(fed), arguments, "each character parsed once, in order")

    def test_earlier_results_and_older_snapshots_stay_right(self) -> None:
        arguments = '{"rows": [{"a": 1}, {"b": [2, 3]}], "text": "long and cut"}'
        accumulator = ChatCompletionsAccumulator()
        snapshots, kept = [], []
        for event in iter_sse(build_events("chat_completions", tool_calls=[{"name": "f", "arguments": arguments}])):
            accumulator.add(event)
            for call in accumulator.completion.tool_calls:  # read as a UI does, after every event
                snapshots.append(call)
                kept.append((call.partial_arguments(), copy.deepcopy(said_so_far(call))))
        self.assertGreater(len(kept), 8)
        for value, expected in kept:
            self.assertEqual(value, expected, "a result does not change when later snapshots are read")
        for call in reversed(snapshots):  # older ones read after newer: parsed alone
            self.assertEqual(call.partial_arguments(), said_so_far(call))
        first = snapshots[len(snapshots) // 2]
        self.assertEqual(dataclasses.replace(first, arguments='{"x": [1').partial_arguments(), {"x": []})
        self.assertEqual(first, ToolCall(first.index, first.id, first.name, first.arguments), "not compared")
        self.assertNotIn("_read_partial", repr(first) + str(first.to_dict()))

    def test_arguments_that_stop_being_json_raise_as_parse_partial_json_does(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        for fragment in ('{"a": 1', ", ", "]", ', "b": 2}'):
            accumulator.add({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}}]})
            call = accumulator.completion.tool_calls[0]
            try:
                expected = parse_partial_json(call.arguments)  # type: Any
            except PartialJSONError as error:
                with self.assertRaises(PartialJSONError) as raised:
                    call.partial_arguments()
                self.assertEqual((str(raised.exception), raised.exception.position), (str(error), error.position))
            else:
                self.assertEqual(call.partial_arguments(), expected)

    def test_arguments_replaced_by_their_done_event_are_read_anew(self) -> None:
        accumulator = ResponsesAccumulator()
        events = [
            {"type": "response.output_item.added", "output_index": 0,
             "item": {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": ""}},
            {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '{"a": [1, '},
            {"type": "response.function_call_arguments.done", "output_index": 0, "arguments": '{"b": true}'},
        ]  # fmt: skip
        values = []
        for event in events:
            accumulator.add(event)
            values.append(accumulator.completion.tool_calls[0].partial_arguments())
        self.assertEqual(values, [{}, {"a": [1]}, {"b": True}])


def said_so_far(call: ToolCall) -> Any:
    """What partial_arguments() must give: parse_partial_json of the text, {} before any."""
    return parse_partial_json(call.arguments) if call.arguments.strip() else {}


if __name__ == "__main__":
    unittest.main()
