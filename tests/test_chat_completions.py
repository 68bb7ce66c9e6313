"""ChatCompletionsAccumulator: OpenAI chat.completion.chunk streams and gateway quirks."""
import json
import unittest
from typing import Any, Dict

from ssekit import (
    ChatCompletionsAccumulator,
    IncompleteStreamError,
    MalformedEventError,
    StreamError,
    ToolCall,
    ToolCallArgumentsError,
    accumulate,
    iter_sse,
)
from ssekit.testing.builders import chat_completions_events
from tests.transcripts import feed, load, replay


def chunk(delta: Dict[str, Any], finish: Any = None, index: int = 0, **fields: Any) -> Dict[str, Any]:
    """One decoded chat.completion.chunk with a single choice."""
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    body["choices"] = [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]
    body.update(fields)
    return body


class RecordedStreams(unittest.TestCase):
    """Byte-exact transcripts, fed through iter_sse in many chunkings."""

    def test_the_capital_of_france_stream(self) -> None:
        completion = replay(load("chat_paris.sse"), "chat_completions", seed=3)
        self.assertEqual(completion.text, "The capital of France is Paris.")
        self.assertEqual(completion.finish_reason, "stop")
        self.assertEqual(completion.id, "chatcmpl-9xQmB4s5XeYbN2dHf7Kq1LpT0aWzE")
        self.assertEqual(completion.model, "gpt-4o-mini-2024-07-18")
        self.assertTrue(completion.complete)
        self.assertEqual(completion.format, "chat_completions")
        self.assertIsNone(completion.refusal)
        self.assertEqual(completion.tool_calls, [])

    def test_usage_chunk_with_empty_choices(self) -> None:
        completion = accumulate(iter_sse([load("chat_paris.sse")]))
        usage = completion.usage
        self.assertEqual((usage.input_tokens, usage.output_tokens, usage.total_tokens), (14, 7, 21))
        self.assertEqual(usage.raw["prompt_tokens_details"], {"cached_tokens": 0, "audio_tokens": 0})

    def test_add_returns_each_delta_so_a_loop_can_print_as_it_goes(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        printed = [accumulator.add(event) for event in iter_sse([load("chat_paris.sse")])]
        self.assertEqual(printed, ["", "The", " capital", " of", " France", " is", " Paris", ".", "", "", ""])
        self.assertEqual(accumulator.finish().text, "".join(printed))

    def test_tool_call_accumulation_loop_with_parallel_interleaved_calls(self) -> None:
        completion = replay(load("chat_parallel_tool_calls.sse"), "chat_completions", seed=3)
        self.assertEqual(
            completion.tool_calls,
            [
                ToolCall(0, "call_Wb3aT9kLmN2pQ7rS", "get_weather", '{"location": "Paris, France"}'),
                ToolCall(1, "call_Xc4bU0lMnO3qR8sT", "get_time", '{"timezone": "Europe/Paris"}'),
            ],
        )
        self.assertEqual(completion.tool_calls[1].parse_arguments(), {"timezone": "Europe/Paris"})
        self.assertEqual(completion.finish_reason, "tool_calls")
        self.assertEqual(completion.text, "")

    def test_builder_stream_with_everything(self) -> None:
        calls = [
            {"id": "call_a", "name": "search", "arguments": '{"query": "sse spec", "limit": 3}'},
            {"id": "call_b", "name": "fetch", "arguments": '{"url": "https://html.spec.whatwg.org/"}'},
        ]
        events = chat_completions_events(
            "Looking that up \u2014 one moment.",
            reasoning="The user wants the spec.",
            tool_calls=calls,
            usage={"prompt_tokens": 40, "completion_tokens": 25},
        )
        completion = replay(b"".join(events), "chat_completions", seed=3)
        self.assertEqual(completion.text, "Looking that up \u2014 one moment.")
        self.assertEqual(completion.reasoning, "The user wants the spec.")
        self.assertEqual([(c.id, c.name, c.arguments) for c in completion.tool_calls], [(c["id"], c["name"], c["arguments"]) for c in calls])
        self.assertEqual(completion.usage.total_tokens, 65)
        self.assertEqual(completion.finish_reason, "tool_calls")


class Deltas(unittest.TestCase):
    def test_role_only_first_chunk_and_null_or_missing_content(self) -> None:
        accumulator = feed("chat_completions", [chunk({"role": "assistant"}), chunk({"content": None}), chunk({}), chunk({"content": "Hi"})])
        self.assertEqual(accumulator.completion.text, "Hi")
        self.assertFalse(accumulator.complete)

    def test_refusal(self) -> None:
        events = chat_completions_events(refusal="I can't help with that.")
        completion = accumulate(iter_sse(events))
        self.assertEqual(completion.refusal, "I can't help with that.")
        self.assertEqual(completion.text, "")

    def test_reasoning_content_deepseek_style_and_reasoning_openrouter_style(self) -> None:
        for field in ("reasoning_content", "reasoning"):
            with self.subTest(field=field):
                events = chat_completions_events("42", reasoning="Six times seven.", reasoning_field=field)
                completion = accumulate(iter_sse(events))
                self.assertEqual((completion.reasoning, completion.text), ("Six times seven.", "42"))

    def test_reasoning_is_not_returned_by_add(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        self.assertEqual(accumulator.add(chunk({"reasoning_content": "hmm"})), "")
        self.assertEqual(accumulator.add(chunk({"content": "ok"})), "ok")

    def test_finish_reasons_are_normalised_and_raw_value_kept(self) -> None:
        for raw, normal in [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter"), ("function_call", "tool_calls")]:
            with self.subTest(raw=raw):
                completion = feed("chat_completions", [chunk({"content": "x"}), chunk({}, raw)]).finish()
                self.assertEqual((completion.finish_reason, completion.raw_finish_reason), (normal, raw))

    def test_stop_with_tool_calls_is_reported_as_tool_calls(self) -> None:
        fragment = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}
        completion = feed("chat_completions", [chunk({"tool_calls": [fragment]}), chunk({}, "stop")]).finish()
        self.assertEqual((completion.finish_reason, completion.raw_finish_reason), ("tool_calls", "stop"))

    def test_usage_in_every_chunk_keeps_the_last(self) -> None:
        events = [
            chunk({"content": "a"}, usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}),
            chunk({"content": "b"}, usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}),
            chunk({}, "stop", usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}),
        ]
        usage = feed("chat_completions", events).finish().usage
        self.assertEqual((usage.input_tokens, usage.output_tokens, usage.total_tokens), (5, 3, 8))

    def test_id_comes_from_the_body_else_from_the_fallback(self) -> None:
        self.assertEqual(feed("chat_completions", [chunk({"content": "a"}, "stop")]).finish().id, "chatcmpl-1")
        accumulator = ChatCompletionsAccumulator(fallback_id="req_header_7")
        accumulator.add({"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}]})
        self.assertEqual(accumulator.finish().id, "req_header_7")

    def test_legacy_function_call_delta(self) -> None:
        events = [chunk({"function_call": {"name": "lookup", "arguments": ""}}), chunk({"function_call": {"arguments": '{"q":'}})]
        events += [chunk({"function_call": {"arguments": ' "x"}'}}), chunk({}, "function_call")]
        completion = feed("chat_completions", events).finish()
        self.assertEqual(completion.tool_calls, [ToolCall(0, None, "lookup", '{"q": "x"}')])
        self.assertEqual(completion.finish_reason, "tool_calls")


class ToolCallQuirks(unittest.TestCase):
    def test_fragments_without_index_are_matched_by_id(self) -> None:
        events = [
            chunk({"tool_calls": [{"id": "call_a", "function": {"name": "f", "arguments": '{"x"'}}]}),
            chunk({"tool_calls": [{"id": "call_b", "function": {"name": "g", "arguments": '{"y"'}}]}),
            chunk({"tool_calls": [{"id": "call_a", "function": {"arguments": ": 1}"}}]}),
            chunk({"tool_calls": [{"id": "call_b", "function": {"arguments": ": 2}"}}]}),
        ]
        calls = feed("chat_completions", events).completion.tool_calls
        self.assertEqual(calls, [ToolCall(0, "call_a", "f", '{"x": 1}'), ToolCall(1, "call_b", "g", '{"y": 2}')])

    def test_fragments_without_index_or_id_continue_the_last_call(self) -> None:
        events = [
            chunk({"tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
            chunk({"tool_calls": [{"function": {"arguments": '{"a": '}}]}),
            chunk({"tool_calls": [{"function": {"arguments": "true}"}}]}),
        ]
        self.assertEqual(feed("chat_completions", events).completion.tool_calls, [ToolCall(0, "call_a", "f", '{"a": true}')])

    def test_a_fragment_is_short_cut_only_when_it_holds_nothing_but_arguments_for_an_int_index(self) -> None:
        opening = [{"index": k, "id": "call_%d" % k, "type": "function", "function": {"name": "f", "arguments": ""}} for k in (0, 1)]
        events = [
            chunk({"tool_calls": opening}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}", "strict": True}}]}),  # an extra in the function
            chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"b": 2}'}, "extra_content": {"k": "v"}}]}),
            chunk({"tool_calls": [{"index": True, "function": {"arguments": "x"}}]}),  # not an int: into the last call
            chunk({"tool_calls": [{"index": 1.0, "function": {"arguments": "y"}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": ""}}, {"index": 1, "function": {"arguments": "z"}}]}),
        ]
        completion = feed("chat_completions", events).completion
        self.assertEqual(completion.tool_calls, [ToolCall(0, "call_0", "f", '{"a": 1}'), ToolCall(1, "call_1", "f", '{"b": 2}xyz')])
        calls = completion.output[0]["tool_calls"]
        self.assertEqual((calls[0]["function"]["strict"], calls[1]["extra_content"]), (True, {"k": "v"}))

    def test_id_and_name_repeated_in_every_fragment_are_not_doubled(self) -> None:
        pieces = ['{"ci', 'ty": ', '"Oslo"}']
        events = [
            chunk({"tool_calls": [{"index": 0, "id": "call_r", "type": "function", "function": {"name": "weather", "arguments": piece}}]})
            for piece in pieces
        ]
        self.assertEqual(feed("chat_completions", events).completion.tool_calls, [ToolCall(0, "call_r", "weather", '{"city": "Oslo"}')])

    def test_whole_arguments_in_one_delta(self) -> None:
        fragment = {"index": 0, "id": "call_w", "type": "function", "function": {"name": "f", "arguments": '{"whole": [1, 2]}'}}
        completion = feed("chat_completions", [chunk({"tool_calls": [fragment]}), chunk({}, "tool_calls"), "[DONE]"]).finish()
        self.assertEqual(completion.tool_calls[0].parse_arguments(), {"whole": [1, 2]})

    def test_arguments_cut_mid_json_raise_a_clear_error_when_parsed(self) -> None:
        events = chat_completions_events(tool_calls=[{"id": "call_c", "name": "f", "arguments": '{"city": "Paris"}'}])
        accumulator = ChatCompletionsAccumulator()
        for event in iter_sse(events[:-4]):  # cut before the last fragment, finish chunk and [DONE]
            accumulator.add(event)
        call = accumulator.completion.tool_calls[0]
        self.assertTrue(call.arguments and call.arguments != '{"city": "Paris"}')
        with self.assertRaises(ToolCallArgumentsError) as caught:
            call.parse_arguments()
        self.assertIn("'f'", str(caught.exception))


class SeveralChoices(unittest.TestCase):
    def test_n_greater_than_one(self) -> None:
        events = [
            chunk({"role": "assistant", "content": ""}, index=0),
            chunk({"role": "assistant", "content": ""}, index=1),
            chunk({"content": "Red"}, index=0),
            chunk({"content": "Blue"}, index=1),
            chunk({"content": " sky"}, index=1),
            chunk({}, "stop", index=0),
            chunk({}, "length", index=1),
        ]
        accumulator = ChatCompletionsAccumulator()
        returned = [accumulator.add(json.dumps(event)) for event in events]  # data strings are accepted too
        self.assertEqual("".join(returned), "Red")  # add() speaks for choice 0
        completion = accumulator.finish()
        self.assertEqual((completion.text, completion.finish_reason), ("Red", "stop"))
        self.assertEqual([(c.text, c.finish_reason) for c in completion.choices], [("Red", "stop"), ("Blue sky", "length")])
        self.assertTrue(all(choice.complete for choice in completion.choices))

    def test_not_complete_until_every_choice_has_finished(self) -> None:
        accumulator = feed("chat_completions", [chunk({"content": "a"}, index=0), chunk({"content": "b"}, index=1), chunk({}, "stop", index=0)])
        self.assertFalse(accumulator.complete)
        accumulator.add(chunk({}, "stop", index=1))
        self.assertTrue(accumulator.complete)

    def test_single_choice_stream_has_no_choices_list(self) -> None:
        self.assertEqual(accumulate(iter_sse([load("chat_paris.sse")])).choices, [])


class EndsAndErrors(unittest.TestCase):
    def test_done_alone_or_finish_reason_alone_is_a_proper_end(self) -> None:
        self.assertTrue(feed("chat_completions", [chunk({"content": "a"}), "[DONE]"]).finish().complete)
        self.assertTrue(feed("chat_completions", [chunk({"content": "a"}, "stop")]).finish().complete)

    def test_stream_cut_before_the_end_raises_incomplete_with_partial(self) -> None:
        events = chat_completions_events("The capital of France is Paris.")
        with self.assertRaises(IncompleteStreamError) as caught:
            accumulate(iter_sse(events[:4]))
        partial = caught.exception.partial
        self.assertEqual(partial.text, "The capital of")
        self.assertFalse(partial.complete)
        self.assertIn("[DONE]", str(caught.exception))

    def test_accumulator_reports_incomplete_without_raising(self) -> None:
        accumulator = feed("chat_completions", [chunk({"content": "half"})])
        self.assertFalse(accumulator.complete)
        self.assertEqual(accumulator.completion.text, "half")
        self.assertFalse(accumulator.completion.complete)

    def test_error_object_inside_the_stream_raises_stream_error(self) -> None:
        error = {"message": "Upstream provider overloaded", "type": "server_error", "code": 502}
        events = chat_completions_events("Partial answer", error=error)
        with self.assertRaises(StreamError) as caught:
            accumulate(iter_sse(events))
        exc = caught.exception
        self.assertEqual((exc.message, exc.type, exc.code), ("Upstream provider overloaded", "server_error", 502))
        self.assertEqual(exc.partial.text, "Partial answer")

    def test_openrouter_style_error_chunk_with_finish_reason_error(self) -> None:
        body = chunk({"content": ""}, "error", error={"code": 429, "message": "Rate limit exceeded"})
        accumulator = feed("chat_completions", [chunk({"content": "So far"})])
        with self.assertRaises(StreamError) as caught:
            accumulator.add(body)
        self.assertEqual((caught.exception.code, caught.exception.partial.text), (429, "So far"))

    def test_error_event_name_raises_even_without_error_key(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        event = next(iter_sse([b'event: error\ndata: {"message": "quota exhausted"}\n\n']))
        with self.assertRaises(StreamError) as caught:
            accumulator.add(event)
        self.assertEqual(caught.exception.message, "quota exhausted")

    def test_malformed_json_raises_with_partial_and_data(self) -> None:
        accumulator = feed("chat_completions", [chunk({"content": "kept"})])
        with self.assertRaises(MalformedEventError) as caught:
            accumulator.add('{"choices": [{"delta": {"content": "x"')
        self.assertEqual(caught.exception.partial.text, "kept")
        self.assertTrue(caught.exception.data.startswith('{"choices"'))
        self.assertIn("chat_completions", str(caught.exception))

    def test_json_that_is_not_an_object_is_malformed(self) -> None:
        with self.assertRaises(MalformedEventError):
            ChatCompletionsAccumulator().add("[1, 2]")

    def test_whitespace_around_json_and_done_is_accepted(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        self.assertEqual(accumulator.add(" " + json.dumps(chunk({"content": "x"})) + " \n"), "x")
        accumulator.add(" [DONE] ")
        self.assertTrue(accumulator.complete)


class Snapshots(unittest.TestCase):
    def test_snapshots_mid_stream_do_not_disturb_accumulation(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        texts = []
        for event in iter_sse(chat_completions_events("one two three four")):
            accumulator.add(event)
            texts.append(accumulator.completion.text)
        self.assertEqual(texts[-1], "one two three four")
        self.assertEqual(texts[2], "one two")
        self.assertEqual(accumulator.finish().text, "one two three four")

    def test_snapshot_is_a_fresh_value(self) -> None:
        accumulator = feed("chat_completions", [chunk({"content": "a"})])
        first = accumulator.completion
        accumulator.add(chunk({"content": "b"}))
        self.assertEqual((first.text, accumulator.completion.text), ("a", "ab"))


if __name__ == "__main__":
    unittest.main()
