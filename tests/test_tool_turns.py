"""From one streamed answer to the next request: to_messages() and tool_results() in each provider's shape."""
import unittest
from typing import Any, Dict, List

from ssekit import (ChatCompletionsAccumulator, MessagesAccumulator, ResponsesAccumulator, SSEKitError, ToolCall,
                    UnsupportedFormatError, accumulate, iter_sse, tool_results)  # fmt: skip
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


if __name__ == "__main__":
    unittest.main()


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
