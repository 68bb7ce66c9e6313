"""ResponsesAccumulator: OpenAI Responses API semantic event streams."""
import unittest
from typing import Any, Dict

from ssekit import IncompleteStreamError, ResponsesAccumulator, StreamError, ToolCall, accumulate, iter_sse
from ssekit.testing.builders import responses_events
from tests.transcripts import feed, load, replay

RESP_ID = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"


def event(kind: str, **fields: Any) -> Dict[str, Any]:
    return dict(type=kind, **fields)


class RecordedStreams(unittest.TestCase):
    def test_text_then_function_call(self) -> None:
        completion = replay(load("responses_text_and_call.sse"), "responses", seed=5)
        self.assertEqual(completion.text, "Let me check the weather in Paris \u2600.")
        self.assertEqual(
            completion.tool_calls, [ToolCall(0, "call_9mGq2LxWcYv8Tn3R", "get_weather", '{"location":"Paris, France"}')]
        )
        self.assertEqual((completion.finish_reason, completion.raw_finish_reason), ("tool_calls", "completed"))
        self.assertEqual(completion.id, RESP_ID)
        self.assertEqual(completion.model, "gpt-4.1-2025-04-14")
        usage = completion.usage
        self.assertEqual((usage.input_tokens, usage.output_tokens, usage.total_tokens), (291, 23, 314))
        self.assertEqual(usage.raw["input_tokens_details"], {"cached_tokens": 0})
        self.assertEqual(completion.extra, {"status": "completed"})
        self.assertTrue(completion.complete)

    def test_add_returns_the_text_deltas_once(self) -> None:
        accumulator = ResponsesAccumulator()
        printed = "".join(accumulator.add(sse) for sse in iter_sse([load("responses_text_and_call.sse")]))
        self.assertEqual(printed, "Let me check the weather in Paris \u2600.")

    def test_snapshots_between_events_change_nothing(self) -> None:
        # A snapshot joins the text pieces; each part's .done must still know its deltas arrived.
        events = [{"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}]
        for part in ("Hello ", "there."):
            events.append({"type": "response.content_part.added", "part": {"type": "output_text", "text": ""}})
            events += [{"type": "response.output_text.delta", "delta": piece} for piece in part]
            events.append({"type": "response.output_text.done", "text": part})
        events.append({"type": "response.completed", "response": {"id": "resp_1", "status": "completed", "output": []}})
        accumulator = ResponsesAccumulator()
        for event in events:
            accumulator.add(event)
            accumulator.completion
        self.assertEqual(accumulator.finish().text, "Hello there.")

    def test_builder_stream_with_reasoning_text_and_two_calls(self) -> None:
        calls = [{"id": "call_1", "name": "a", "arguments": '{"n": 1}'}, {"id": "call_2", "name": "b", "arguments": "{}"}]
        events = responses_events("Both tools, please.", reasoning="Two lookups needed.", tool_calls=calls)
        completion = replay(b"".join(events), "responses", seed=5)
        self.assertEqual(completion.text, "Both tools, please.")
        self.assertEqual(completion.reasoning, "Two lookups needed.")
        self.assertEqual([(c.index, c.id, c.name, c.arguments) for c in completion.tool_calls], [(0, "call_1", "a", '{"n": 1}'), (1, "call_2", "b", "{}")])


class Events(unittest.TestCase):
    def test_incomplete_response_reports_length_and_reason(self) -> None:
        completion = accumulate(iter_sse(responses_events("Cut short", finish_reason="length")))
        self.assertTrue(completion.complete)
        self.assertEqual((completion.finish_reason, completion.raw_finish_reason), ("length", "max_output_tokens"))
        self.assertEqual(completion.extra, {"status": "incomplete", "incomplete_reason": "max_output_tokens"})
        self.assertEqual(completion.text, "Cut short")

    def test_response_failed_raises_with_code_and_partial(self) -> None:
        failed = {"id": "resp_1", "status": "failed", "error": {"code": "server_error", "message": "The model crashed."}}
        accumulator = feed("responses", [event("response.output_text.delta", delta="Half an ans")])
        with self.assertRaises(StreamError) as caught:
            accumulator.add(event("response.failed", response=failed))
        exc = caught.exception
        self.assertEqual((exc.message, exc.code), ("The model crashed.", "server_error"))
        self.assertEqual(exc.partial.text, "Half an ans")
        self.assertEqual(exc.partial.extra["status"], "failed")

    def test_error_event_raises(self) -> None:
        events = responses_events("Partial", error={"code": "rate_limit_exceeded", "message": "Slow down", "param": None})
        with self.assertRaises(StreamError) as caught:
            accumulate(iter_sse(events))
        self.assertEqual((caught.exception.code, caught.exception.message), ("rate_limit_exceeded", "Slow down"))
        self.assertEqual(caught.exception.partial.text, "Partial")

    def test_bare_first_frame_without_type(self) -> None:
        events = [
            {"id": "resp_bare1", "status": "in_progress"},
            event("response.output_text.delta", delta="Hi"),
            {"id": "resp_bare1", "status": "completed", "usage": {"input_tokens": 3, "output_tokens": 1}},
        ]
        completion = feed("responses", events).finish()
        self.assertEqual((completion.id, completion.text, completion.finish_reason), ("resp_bare1", "Hi", "stop"))
        self.assertEqual(completion.usage.total_tokens, 4)
        self.assertEqual(accumulate(events).format, "responses")  # auto-detected from the bare frame

    def test_reasoning_summary_parts_are_separated(self) -> None:
        events = [
            event("response.reasoning_summary_part.added", summary_index=0),
            event("response.reasoning_summary_text.delta", delta="**Plan**"),
            event("response.reasoning_summary_part.added", summary_index=1),
            event("response.reasoning_summary_text.delta", delta="Then act."),
            event("response.reasoning_text.delta", delta=" Raw."),
        ]
        self.assertEqual(feed("responses", events).completion.reasoning, "**Plan**\n\nThen act. Raw.")

    def test_refusal_deltas(self) -> None:
        completion = accumulate(iter_sse(responses_events(refusal="I can't assist with that.")))
        self.assertEqual((completion.refusal, completion.text), ("I can't assist with that.", ""))

    def test_output_text_done_fills_a_part_that_had_no_deltas(self) -> None:
        events = [
            event("response.content_part.added", output_index=0, content_index=0),
            event("response.output_text.delta", delta="Streamed. "),
            event("response.output_text.done", text="Streamed. "),
            event("response.content_part.added", output_index=0, content_index=1),
            event("response.output_text.done", text="Only in done."),
        ]
        accumulator = ResponsesAccumulator()
        returned = [accumulator.add(item) for item in events]
        self.assertEqual(accumulator.completion.text, "Streamed. Only in done.")
        self.assertEqual(returned[-1], "Only in done.")

    def test_completed_response_fills_what_was_not_streamed(self) -> None:
        output = [
            {"type": "message", "content": [{"type": "output_text", "text": "From the final object."}]},
            {"type": "function_call", "call_id": "call_f", "name": "f", "arguments": '{"k": 1}'},
        ]
        response = {"id": "resp_f", "status": "completed", "output": output}
        accumulator = ResponsesAccumulator()
        self.assertEqual(accumulator.add(event("response.completed", response=response)), "From the final object.")
        completion = accumulator.finish()
        self.assertEqual(completion.tool_calls, [ToolCall(0, "call_f", "f", '{"k": 1}')])

    def test_arguments_done_is_authoritative(self) -> None:
        events = [
            event("response.output_item.added", output_index=0, item={"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f"}),
            event("response.function_call_arguments.delta", output_index=0, item_id="fc_1", delta='{"a": 1'),
            event("response.function_call_arguments.done", output_index=0, item_id="fc_1", arguments='{"a": 12}'),
        ]
        self.assertEqual(feed("responses", events).completion.tool_calls, [ToolCall(0, "call_1", "f", '{"a": 12}')])

    def test_events_carried_in_sse_event_names_only(self) -> None:
        data = b'event: response.output_text.delta\ndata: {"delta": "named"}\n\n'
        data += b'event: response.completed\ndata: {"response": {"id": "resp_n", "status": "completed"}}\n\n'
        completion = accumulate(iter_sse([data]), "responses")
        self.assertEqual((completion.text, completion.id), ("named", "resp_n"))

    def test_stream_without_terminal_event_is_incomplete(self) -> None:
        events = responses_events("Never finished")
        with self.assertRaises(IncompleteStreamError) as caught:
            accumulate(iter_sse(events[:-1]))
        self.assertEqual(caught.exception.partial.text, "Never finished")
        self.assertEqual(caught.exception.partial.extra["status"], "in_progress")
        self.assertIn("response.completed", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
