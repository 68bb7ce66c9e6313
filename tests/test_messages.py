"""MessagesAccumulator: Anthropic Messages event streams."""
import unittest
from typing import Any, Dict

from ssekit import IncompleteStreamError, MessagesAccumulator, StreamError, ToolCall, accumulate, iter_sse
from ssekit.testing.builders import messages_events
from tests.transcripts import feed, load, replay


def event(kind: str, **fields: Any) -> Dict[str, Any]:
    return dict(type=kind, **fields)


class RecordedStreams(unittest.TestCase):
    def test_text_then_tool_use(self) -> None:
        completion = replay(load("messages_tool_use.sse"), "messages", seed=7)
        self.assertEqual(completion.text, "Okay, let's check the weather for San Francisco, CA:")
        self.assertEqual(
            completion.tool_calls,
            [ToolCall(0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", '{"location": "San Francisco, CA", "unit": "fahrenheit"}')],
        )
        self.assertEqual((completion.finish_reason, completion.raw_finish_reason), ("tool_calls", "tool_use"))
        self.assertEqual((completion.id, completion.model), ("msg_014p7gG3wDgGV9EUtLvnow3U", "claude-sonnet-4-5-20250929"))
        self.assertTrue(completion.complete)

    def test_usage_input_from_message_start_output_from_last_message_delta(self) -> None:
        usage = accumulate(iter_sse([load("messages_tool_use.sse")])).usage
        self.assertEqual((usage.input_tokens, usage.output_tokens, usage.total_tokens), (472, 89, 561))
        self.assertEqual((usage.raw["cache_read_input_tokens"], usage.raw["cache_creation_input_tokens"]), (128, 0))

    def test_thinking_then_text(self) -> None:
        completion = replay(load("messages_thinking.sse"), "messages", seed=7)
        self.assertEqual(completion.text, "The greatest common divisor of 1071 and 462 is **21**.")
        self.assertTrue(completion.reasoning.startswith("I need to find the GCD"))
        self.assertTrue(completion.reasoning.endswith("147 = 7 \u00d7 21 + 0"))
        thinking, text = completion.output
        self.assertEqual((thinking["type"], thinking["signature"]), ("thinking", "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"))
        self.assertEqual(thinking["thinking"], completion.reasoning)
        self.assertEqual(text, {"type": "text", "text": completion.text})
        self.assertEqual(completion.extra, {})
        self.assertEqual(completion.finish_reason, "stop")

    def test_add_returns_only_answer_text(self) -> None:
        accumulator = MessagesAccumulator()
        printed = [accumulator.add(sse) for sse in iter_sse([load("messages_thinking.sse")])]
        self.assertEqual([piece for piece in printed if piece], ["The greatest common divisor of 1071 and 462 is **21**."])

    def test_builder_stream_with_thinking_text_and_parallel_tools(self) -> None:
        calls = [{"id": "toolu_a", "name": "a", "arguments": '{"x": [1, 2, 3]}'}, {"id": "toolu_b", "name": "b", "arguments": "{}"}]
        events = messages_events("Calling both.", reasoning="Need a and b.", tool_calls=calls, usage={"input_tokens": 9, "output_tokens": 30})
        completion = replay(b"".join(events), "messages", seed=7)
        self.assertEqual((completion.text, completion.reasoning), ("Calling both.", "Need a and b."))
        self.assertEqual([(c.index, c.id, c.arguments) for c in completion.tool_calls], [(0, "toolu_a", '{"x": [1, 2, 3]}'), (1, "toolu_b", "{}")])
        self.assertEqual(completion.usage.total_tokens, 39)


class Events(unittest.TestCase):
    def test_stop_reasons_are_normalised(self) -> None:
        for raw, normal in [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("refusal", "content_filter")]:
            with self.subTest(raw=raw):
                events = [event("message_delta", delta={"stop_reason": raw, "stop_sequence": None}), event("message_stop")]
                completion = feed("messages", events).finish()
                self.assertEqual((completion.finish_reason, completion.raw_finish_reason), (normal, raw))

    def test_stop_sequence_is_kept_in_extra(self) -> None:
        events = [event("message_delta", delta={"stop_reason": "stop_sequence", "stop_sequence": "###"}), event("message_stop")]
        self.assertEqual(feed("messages", events).finish().extra, {"stop_sequence": "###"})

    def test_error_event_raises_with_type_and_partial(self) -> None:
        events = messages_events("Before the error", error="Overloaded")
        with self.assertRaises(StreamError) as caught:
            accumulate(iter_sse(events))
        exc = caught.exception
        self.assertEqual((exc.message, exc.type), ("Overloaded", "overloaded_error"))
        self.assertEqual(exc.partial.text, "Before the error")
        self.assertEqual(exc.body["error"]["type"], "overloaded_error")

    def test_ping_and_unknown_events_are_ignored(self) -> None:
        events = [
            event("message_start", message={"id": "msg_x", "model": "claude", "usage": {"input_tokens": 1}}),
            event("ping"),
            event("content_block_delta", index=0, delta={"type": "citations_delta", "citation": {}}),
            event("future_event_type", data=1),
            event("content_block_delta", index=0, delta={"type": "text_delta", "text": "ok"}),
            event("message_stop"),
        ]
        self.assertEqual(feed("messages", events).finish().text, "ok")

    def test_server_tool_blocks_are_not_client_tool_calls(self) -> None:
        events = [
            event("content_block_start", index=0, content_block={"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
            event("content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": '{"query": "x"}'}),
            event("message_stop"),
        ]
        self.assertEqual(feed("messages", events).finish().tool_calls, [])

    def test_usage_update_ignores_nulls(self) -> None:
        events = [
            event("message_start", message={"usage": {"input_tokens": 20, "output_tokens": 1}}),
            event("message_delta", delta={"stop_reason": "end_turn"}, usage={"input_tokens": None, "output_tokens": 5}),
            event("message_stop"),
        ]
        usage = feed("messages", events).finish().usage
        self.assertEqual((usage.input_tokens, usage.output_tokens), (20, 5))

    def test_missing_message_stop_is_incomplete(self) -> None:
        with self.assertRaises(IncompleteStreamError) as caught:
            accumulate(iter_sse(messages_events("Almost done")[:-1]))
        self.assertEqual(caught.exception.partial.text, "Almost done")
        self.assertEqual(caught.exception.partial.finish_reason, "stop")
        self.assertIn("message_stop", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
