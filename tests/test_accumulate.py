"""accumulate(), format detection, AutoAccumulator, new_accumulator, and robustness against corrupt streams."""
import unittest
from typing import Any, Dict, List

from ssekit import (
    ChatCompletionsAccumulator,
    GenerationAccumulator,
    IncompleteStreamError,
    MessagesAccumulator,
    ResponsesAccumulator,
    SSEKitError,
    ServerSentEvent,
    StreamError,
    UnsupportedFormatError,
    accumulate,
    iter_sse,
)
from ssekit.formats import FORMATS, Accumulator, AutoAccumulator, detect_format, new_accumulator
from ssekit.testing.builders import build_events, build_result, chunkings

TOOL_CALLS = [
    {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
    {"id": "call_2", "name": "get_time", "arguments": '{"timezone": "Europe/Paris"}'},
]


def rich_events(format: str) -> List[bytes]:
    """A stream of *format* using as many of its features as it has."""
    options = {"usage": {"input_tokens": 20, "output_tokens": 30}}  # type: Dict[str, Any]
    if format != "generation":
        options.update(tool_calls=TOOL_CALLS, reasoning="Thinking it over.")
    return build_events(format, "Sunny, 21 \u00b0C \u2014 and it's 14:05 there.", **options)


class Accumulate(unittest.TestCase):
    def test_auto_recognises_every_format_in_every_chunking(self) -> None:
        for name, spec in FORMATS.items():
            with self.subTest(format=name):
                data = b"".join(rich_events(name))
                expected = accumulate(iter_sse([data]), name)
                self.assertEqual(expected.format, name)
                self.assertIsInstance(new_accumulator(name), spec.accumulator)
                for chunks in chunkings(data, seed=1, count=3):
                    self.assertEqual(accumulate(iter_sse(chunks)), expected)

    def test_accepts_decoded_dicts_and_data_strings(self) -> None:
        for name in FORMATS:
            with self.subTest(format=name):
                events = list(iter_sse(rich_events(name)))
                expected = accumulate(events)
                decoded = [event.data if event.data == "[DONE]" else event.json() for event in events]
                self.assertEqual(accumulate(decoded), expected)
                self.assertEqual(accumulate([event.data for event in events], name), expected)

    def test_same_result_for_every_format(self) -> None:
        """Every format carries the same answer to the same normalised Completion fields."""
        results = {name: accumulate(iter_sse(build_events(name, "Same answer.", usage={"input_tokens": 3, "output_tokens": 4}))) for name in FORMATS}
        for name, completion in results.items():
            with self.subTest(format=name):
                self.assertEqual((completion.text, completion.finish_reason, completion.complete), ("Same answer.", "stop", True))
                self.assertEqual(completion.usage.total_tokens, 7)

    def test_incomplete_stream_of_every_format_keeps_the_partial(self) -> None:
        for name in FORMATS:
            with self.subTest(format=name):
                events = list(iter_sse(build_events(name, "Kept text.")))
                probe = new_accumulator(name)
                count = next(i for i, event in enumerate(events, 1) if probe.add(event) == "." or probe.complete)
                with self.assertRaises(IncompleteStreamError) as caught:
                    accumulate(events[:count])
                self.assertEqual(caught.exception.partial.text, "Kept text.")
                self.assertFalse(caught.exception.partial.complete)

    def test_unknown_format_name_lists_the_valid_ones(self) -> None:
        with self.assertRaises(UnsupportedFormatError) as caught:
            accumulate([], "openai")
        for name in ["auto"] + sorted(FORMATS):
            self.assertIn(name, str(caught.exception))
        with self.assertRaises(UnsupportedFormatError):
            new_accumulator("nope")


class Detection(unittest.TestCase):
    def test_detect_format_of_events_dicts_strings_and_results(self) -> None:
        for name in FORMATS:
            with self.subTest(format=name):
                first = next(iter_sse(build_events(name, "x")))
                self.assertEqual(detect_format(first), name)
                self.assertEqual(detect_format(first.json()), name)
                self.assertEqual(detect_format(first.data), name)
                self.assertEqual(detect_format(build_result(name, "x")), name)

    def test_events_that_say_nothing(self) -> None:
        for thing in ["[DONE]", {"type": "ping"}, {"type": "error", "message": "x"}, {"error": {"message": "x"}}, "not json", "[1]", {}]:
            with self.subTest(thing=thing):
                self.assertIsNone(detect_format(thing))

    def test_named_event_without_type_in_data(self) -> None:
        self.assertEqual(detect_format(ServerSentEvent("content_block_delta", "{}")), "messages")
        self.assertEqual(detect_format(ServerSentEvent("response.output_text.delta", "{}")), "responses")
        self.assertEqual(detect_format(ServerSentEvent("generation_start", "not json")), "generation")
        self.assertIsNone(detect_format(ServerSentEvent("message", "{}")))

    def test_bare_responses_frame(self) -> None:
        self.assertEqual(detect_format({"id": "resp_abc", "status": "in_progress"}), "responses")


class Auto(unittest.TestCase):
    def test_skips_pings_until_the_format_is_known_then_delegates(self) -> None:
        accumulator = AutoAccumulator(fallback_id="req_1")
        self.assertEqual(accumulator.add({"type": "ping"}), "")
        self.assertIsNone(accumulator.delegate)
        self.assertEqual(accumulator.completion.id, "req_1")
        self.assertEqual(accumulator.add({"type": "content_delta", "delta": "Hi"}), "Hi")
        self.assertIsInstance(accumulator.delegate, GenerationAccumulator)
        accumulator.add({"type": "generation_end", "tokens_used": 3})
        completion = accumulator.finish()
        self.assertEqual((completion.text, completion.id, completion.format), ("Hi", "req_1", "generation"))

    def test_error_before_the_format_is_known_raises_stream_error(self) -> None:
        for error in [{"error": {"message": "bad key", "type": "invalid_request_error"}}, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}]:
            with self.subTest(error=error):
                with self.assertRaises(StreamError) as caught:
                    AutoAccumulator().add(error)
                self.assertEqual(caught.exception.partial.text, "")

    def test_unrecognised_stream_raises_unsupported_format_at_the_end(self) -> None:
        with self.assertRaises(UnsupportedFormatError) as caught:
            accumulate([{"foo": 1}, {"bar": 2}])
        self.assertIn("2 event", str(caught.exception))

    def test_no_events_at_all_is_incomplete(self) -> None:
        with self.assertRaises(IncompleteStreamError):
            accumulate([])

    def test_only_done_is_an_empty_complete_answer(self) -> None:
        completion = accumulate(["[DONE]"])
        self.assertEqual((completion.text, completion.complete, completion.format), ("", True, None))

    def test_every_accumulator_has_the_same_public_api(self) -> None:
        for cls in [spec.accumulator for spec in FORMATS.values()] + [AutoAccumulator]:
            with self.subTest(cls=cls.__name__):
                self.assertTrue(issubclass(cls, Accumulator))
                accumulator = cls(fallback_id="f")
                self.assertFalse(accumulator.complete)
                self.assertEqual(accumulator.completion.id, "f")
                self.assertIsInstance(cls.format, str)


# --- robustness (the random corruption fuzzing is in test_fuzz_formats) -----------------


class Robustness(unittest.TestCase):
    def test_wrong_types_in_the_hot_fields_are_ignored(self) -> None:
        accumulator = ChatCompletionsAccumulator()
        for body in [
            {"choices": None},
            {"choices": "x"},
            {"choices": [None, 1, "x"]},
            {"choices": [{"delta": "x"}]},
            {"choices": [{"delta": {"content": 5}}]},
            {"choices": [{"index": "0", "delta": {"content": "ok"}}]},
            {"choices": [{"index": [], "delta": {"tool_calls": [None, {"index": "a", "function": "f"}]}}]},
            {"choices": [{"delta": {"content": None, "tool_calls": {"index": 0}}}], "usage": "many"},
        ]:
            accumulator.add(body)
        self.assertEqual(accumulator.completion.text, "ok")
        messages = MessagesAccumulator()
        for body in [{"type": "content_block_delta", "delta": "x"}, {"type": "content_block_start", "index": [], "content_block": {"type": "tool_use"}},
                     {"type": "message_delta", "delta": None, "usage": [1]}, {"type": "message_start", "message": "m"}]:  # fmt: skip
            messages.add(body)
        self.assertEqual(messages.completion.tool_calls, [])
        responses = ResponsesAccumulator()
        for body in [{"status": []}, {"type": "response.completed", "response": None}, {"type": "response.output_item.added", "item": [], "output_index": {}}]:
            responses.add(body)
        self.assertTrue(responses.complete)

    def test_deeply_nested_json_is_malformed_not_a_crash(self) -> None:
        with self.assertRaises(SSEKitError):
            ChatCompletionsAccumulator().add("[" * 100000)


if __name__ == "__main__":
    unittest.main()
