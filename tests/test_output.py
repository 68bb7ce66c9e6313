"""The answer keeps the provider's own output, verbatim and in order; flat fields are views of it.

Also: the full usage vocabulary, the bounds on what a stream may open, a stream
read with the wrong format, and read-only snapshots.
"""
import json
import unittest
from typing import Any, Dict, List

from ssekit import (ChatCompletionsAccumulator, Completion, MalformedEventError, MessagesAccumulator, ResponsesAccumulator,
                    SSEKitError, ToolCall, UnsupportedFormatError, Usage, accumulate, iter_sse)  # fmt: skip
from ssekit.formats.base import MAX_CHOICES
from ssekit.testing.builders import chat_completions_events


def feed(accumulator: Any, events: List[Dict[str, Any]]) -> Completion:
    for event in events:
        accumulator.add(event)
    return accumulator.completion  # type: ignore[no-any-return]


def block_events(index: int, block: Dict[str, Any], deltas: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    events = [{"type": "content_block_start", "index": index, "content_block": block}]
    events += [{"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas]
    return events + [{"type": "content_block_stop", "index": index}]


class AnthropicBlocks(unittest.TestCase):
    def events(self) -> List[Dict[str, Any]]:
        start = {"type": "message_start", "message": {"id": "msg_1", "model": "claude", "content": [],
                                                       "usage": {"input_tokens": 10, "cache_read_input_tokens": 4,
                                                                 "cache_creation_input_tokens": 2, "output_tokens": 1}}}  # fmt: skip
        events = [start]
        events += block_events(0, {"type": "thinking", "thinking": "", "signature": ""},
                               [{"type": "thinking_delta", "thinking": "First, "}, {"type": "thinking_delta", "thinking": "look."},
                                {"type": "signature_delta", "signature": "sig-one"}])  # fmt: skip
        events += block_events(1, {"type": "redacted_thinking", "data": "ENCRYPTED=="}, [])
        events += block_events(2, {"type": "thinking", "thinking": "", "signature": ""},
                               [{"type": "signature_delta", "signature": "sig-two"}])  # an empty-text thinking block
        events += block_events(3, {"type": "text", "text": ""}, [{"type": "text_delta", "text": "See "},
                               {"type": "citations_delta", "citation": {"type": "char_location", "cited_text": "x"}},
                               {"type": "text_delta", "text": "this."}])  # fmt: skip
        events += block_events(4, {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {}},
                               [{"type": "input_json_delta", "partial_json": '{"q": '}, {"type": "input_json_delta", "partial_json": '"x"}'}])
        events.append({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}})
        return events + [{"type": "message_stop"}]

    def test_every_block_exactly_as_it_streamed_in_order(self) -> None:
        completion = feed(MessagesAccumulator(), self.events())
        self.assertEqual(completion.output, [
            {"type": "thinking", "thinking": "First, look.", "signature": "sig-one"},
            {"type": "redacted_thinking", "data": "ENCRYPTED=="},
            {"type": "thinking", "thinking": "", "signature": "sig-two"},
            {"type": "text", "text": "See this.", "citations": [{"type": "char_location", "cited_text": "x"}]},
            {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"q": "x"}},
        ])  # fmt: skip
        self.assertEqual(completion.to_dict()["output"], completion.output)
        self.assertEqual(json.loads(completion.to_json())["output"][2]["signature"], "sig-two")
        self.assertEqual((completion.text, completion.reasoning), ("See this.", "First, look."))
        self.assertEqual(completion.tool_calls, [ToolCall(0, "toolu_1", "look", '{"q": "x"}')])
        self.assertEqual((completion.finish_reason, completion.complete), ("tool_calls", True))

    def test_usage_in_full_and_final_only_after_message_delta(self) -> None:
        events = self.events()
        cut = feed(MessagesAccumulator(), events[:3])
        self.assertEqual((cut.usage.input_tokens, cut.usage.output_tokens, cut.usage.final), (10, 1, False))
        usage = feed(MessagesAccumulator(), events).usage
        self.assertEqual(usage, Usage(10, 30, 40, None, 4, 2))
        self.assertTrue(usage.final)

    def test_snapshots_are_frozen_in_time(self) -> None:
        accumulator = MessagesAccumulator()
        events = self.events()
        snapshots = []
        for event in events:
            accumulator.add(event)
            snapshots.append(accumulator.completion)
        texts = [snapshot.text for snapshot in snapshots]
        self.assertEqual(texts[events.index(events[-1]) - 1], "See this.")
        self.assertEqual([t for t in texts if t][0], "See ")
        self.assertEqual(snapshots[2].output, [{"type": "thinking", "thinking": "First, ", "signature": ""}])


class ResponsesItems(unittest.TestCase):
    def test_reasoning_items_keep_id_summary_and_encrypted_content(self) -> None:
        reasoning = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAA=="}
        call = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""}
        events = [
            {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
            {"type": "response.output_item.added", "output_index": 0, "item": reasoning},
            {"type": "response.output_item.done", "output_index": 0, "item": reasoning},
            {"type": "response.output_item.added", "output_index": 1, "item": call},
            {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"a":'},
            {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "1}"},
            {"type": "response.output_item.done", "output_index": 1, "item": dict(call, arguments='{"a":1}', status="completed")},
            {"type": "response.completed", "response": {"id": "resp_1", "status": "completed", "usage": {
                "input_tokens": 5, "input_tokens_details": {"cached_tokens": 3}, "output_tokens": 9,
                "output_tokens_details": {"reasoning_tokens": 7}, "total_tokens": 14}}},
        ]  # fmt: skip
        completion = feed(ResponsesAccumulator(), events)
        self.assertEqual(completion.output, [reasoning, dict(call, arguments='{"a":1}', status="completed")])
        self.assertEqual(completion.tool_calls, [ToolCall(0, "call_1", "f", '{"a":1}')])
        self.assertEqual(completion.usage, Usage(5, 9, 14, 7, 3, None))

    def test_message_items_and_parts_in_order(self) -> None:
        message = {"id": "msg_1", "type": "message", "role": "assistant", "content": []}
        part = {"type": "output_text", "text": "", "annotations": []}
        events = [
            {"type": "response.output_item.added", "output_index": 0, "item": message},
            {"type": "response.content_part.added", "output_index": 0, "content_index": 0, "part": part},
            {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hi "},
            {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "there"},
        ]
        completion = feed(ResponsesAccumulator(), events)
        self.assertEqual(completion.output, [dict(message, content=[dict(part, text="Hi there")])])
        self.assertEqual(completion.text, "Hi there")


class ChatMessage(unittest.TestCase):
    def test_reasoning_fields_and_provider_extras_verbatim(self) -> None:
        google = {"google": {"thought_signature": "c2ln"}}
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "Think"}}]},
            {"choices": [{"index": 0, "delta": {"reasoning_details": [{"type": "reasoning.text", "text": "Think"}]}}]},
            {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                                 "function": {"name": "f", "arguments": "{}"},
                                                                 "extra_content": google}]}}]},
            {"choices": [{"index": 0, "delta": {"extra_content": google}, "finish_reason": "tool_calls"}],
             "usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12,
                       "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 3}}},
        ]  # fmt: skip
        completion = feed(ChatCompletionsAccumulator(), chunks)
        self.assertEqual(completion.output, [{
            "role": "assistant", "content": None, "reasoning_content": "Think",
            "reasoning_details": [{"type": "reasoning.text", "text": "Think"}],
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}, "extra_content": google}],
            "extra_content": google,
        }])  # fmt: skip
        self.assertEqual((completion.reasoning, completion.text, completion.finish_reason), ("Think", "", "tool_calls"))
        self.assertEqual(completion.usage, Usage(8, 4, 12, 3, 2, None))
        self.assertTrue(completion.usage.final)

    def test_text_answer_is_one_assistant_message(self) -> None:
        completion = accumulate(iter_sse(chat_completions_events("Hello there.")))
        self.assertEqual(completion.output, [{"role": "assistant", "content": "Hello there."}])


class Bounds(unittest.TestCase):
    def test_too_many_choices_is_a_clear_error_with_partial(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        accumulator.add({"choices": [{"index": 0, "delta": {"content": "kept"}}]})
        accumulator.add({"choices": [{"index": 1 + i} for i in range(10 ** 5)]})  # carry nothing: open nothing
        with self.assertRaises(MalformedEventError) as caught:
            accumulator.add({"choices": [{"index": 1 + i, "delta": {"content": "x"}} for i in range(MAX_CHOICES + 1)]})
        self.assertIn("more than %d choices" % MAX_CHOICES, str(caught.exception))
        self.assertEqual(caught.exception.partial.text, "kept")

    def test_index_less_tool_calls_are_found_in_constant_time(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        for number in range(3000):
            accumulator.add({"choices": [{"delta": {"tool_calls": [{"id": "call_%d" % number, "function": {"arguments": "{}"}}]}}]})
            accumulator.add({"choices": [{"delta": {"tool_calls": [{"id": "call_%d" % (number // 2), "function": {"name": "f"}}]}}]})
        calls = accumulator.completion.tool_calls
        self.assertEqual([call.index for call in calls], list(range(3000)))
        self.assertEqual({call.name for call in calls[:1500]}, {"f"})


class WrongFormat(unittest.TestCase):
    def test_a_chat_stream_read_as_another_format_says_what_it_looks_like(self) -> None:
        data = b"".join(chat_completions_events("Hello."))
        for format in ("messages", "responses", "generation"):
            with self.subTest(format=format):
                with self.assertRaises(UnsupportedFormatError) as caught:
                    accumulate(iter_sse([data]), format)
                self.assertIn("looks like chat_completions", str(caught.exception))
                self.assertFalse(caught.exception.partial.complete)


class ReadOnly(unittest.TestCase):
    def test_completion_is_read_only_and_deep_values_never_recurse_out(self) -> None:
        completion = accumulate(iter_sse(chat_completions_events("Hi")))
        with self.assertRaises(AttributeError):
            completion.text = "changed"  # type: ignore[misc]
        for name in ("text", "usage", "tool_calls", "output", "finish_reason", "id", "complete", "choices", "resumed"):
            with self.subTest(name=name):
                with self.assertRaises(AttributeError):
                    setattr(completion, name, None)
                with self.assertRaises(AttributeError):
                    delattr(completion, name)
        with self.assertRaises(AttributeError):
            completion.new_field = 1  # type: ignore[attr-defined]
        self.assertEqual(completion.text, "Hi")
        deep = "[" * 700 + "]" * 700
        accumulator = ChatCompletionsAccumulator()
        accumulator.add('{"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}], '
                        '"usage": {"prompt_tokens": 1, "x": %s}}' % deep)  # fmt: skip
        try:
            accumulator.completion.to_json()
        except SSEKitError:
            pass  # too deep to encode: said clearly, never a RecursionError


if __name__ == "__main__":
    unittest.main()
