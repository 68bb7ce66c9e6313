"""GeminiAccumulator: Google Gemini streamGenerateContent?alt=sse streams, results, next turns."""
import json
import unittest
from typing import Any, Dict, List, Optional

from ssekit import (IncompleteStreamError, MalformedEventError, SSEKitError, StreamError, ToolCall, UnsupportedFormatError,
                    Usage, accumulate, iter_sse, tool_results)  # fmt: skip
from ssekit.formats import GeminiAccumulator, completion_from_result, detect_format, key_header
from ssekit.formats.base import MAX_CHOICES, MAX_ITEMS
from ssekit.testing.builders import build_result, gemini_events
from tests.transcripts import feed, load, replay

SIGNATURE = "CikB0e2Kb3aG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAv1wT+example/sig=="


def chunk(parts: Optional[List[Any]] = None, finish: Optional[str] = None, index: int = 0, **fields: Any) -> Dict[str, Any]:
    """One streamed GenerateContentResponse with one candidate (no candidate when *parts* and *finish* are None)."""
    body = dict(fields)  # type: Dict[str, Any]
    if parts is not None or finish is not None:
        candidate = {"content": {"parts": parts or [], "role": "model"}, "index": index}  # type: Dict[str, Any]
        if finish is not None:
            candidate["finishReason"] = finish
        body["candidates"] = [candidate]
    return body


class RecordedStreams(unittest.TestCase):
    def test_thoughts_text_and_parallel_calls_signature_on_the_first_only(self) -> None:
        completion = replay(load("gemini_parallel_calls.sse"), "gemini", seed=3)
        self.assertEqual(completion.text, "I'll check both for you.")
        self.assertTrue(completion.reasoning.startswith("**Planning the lookups**"))
        self.assertTrue(completion.reasoning.endswith("in parallel."))
        self.assertEqual(completion.tool_calls, [
            ToolCall(0, "ssekit-gemini-call-0", "get_weather", '{"city": "Paris", "unit": "celsius"}'),
            ToolCall(1, "ssekit-gemini-call-1", "get_time", '{"timezone": "Asia/Tokyo"}'),
        ])  # fmt: skip
        self.assertEqual((completion.finish_reason, completion.raw_finish_reason), ("tool_calls", "STOP"))
        self.assertEqual((completion.id, completion.model, completion.format), ("Zq4CaN_8G4ub1dkPuq2m8Qs", "gemini-2.5-flash", "gemini"))
        self.assertTrue(completion.complete)
        [content] = completion.output
        self.assertEqual(content["role"], "model")
        self.assertEqual(content["parts"], [
            {"text": completion.reasoning, "thought": True},
            {"text": "I'll check both for you."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris", "unit": "celsius"}}, "thoughtSignature": SIGNATURE},
            {"functionCall": {"name": "get_time", "args": {"timezone": "Asia/Tokyo"}}},
        ])  # fmt: skip

    def test_usage_is_the_last_snapshot_with_thoughts_counted_as_output(self) -> None:
        usage = accumulate(iter_sse([load("gemini_parallel_calls.sse")])).usage
        self.assertEqual(usage, Usage(87, 31 + 73, 191, 73, None, None))
        self.assertTrue(usage.final)
        self.assertEqual(usage.raw["promptTokensDetails"], [{"modality": "TEXT", "tokenCount": 87}])

    def test_signature_on_a_final_empty_text_part_and_a_chunk_without_candidates(self) -> None:
        completion = replay(load("gemini_signature_on_empty_text.sse"), seed=5)  # (format="auto")
        self.assertEqual(completion.format, "gemini")
        self.assertEqual(completion.text, "Server-sent events keep one HTTP response open and push `data:` lines down it \u2014 ideal for tokens.")
        self.assertEqual(completion.output[0]["parts"], [{"text": completion.text, "thoughtSignature": "EpUCCpICAdHtim9vZbHk2Qn+final/empty/part=="}])
        self.assertEqual(completion.finish_reason, "stop")
        self.assertEqual(completion.extra["citationMetadata"]["citations"][0]["endIndex"], 46)
        self.assertEqual(completion.usage, Usage(12, 23 + 381, 416, 381, 0, None))

    def test_add_returns_only_answer_text(self) -> None:
        accumulator = GeminiAccumulator()
        printed = [accumulator.add(sse) for sse in iter_sse([load("gemini_parallel_calls.sse")])]
        self.assertEqual(printed, ["", "", "I'll check both ", "for you.", ""])


class Parts(unittest.TestCase):
    def test_consecutive_text_of_one_kind_merges_and_a_signature_closes_the_run(self) -> None:
        events = [
            chunk([{"text": "Think ", "thought": True}]),
            chunk([{"text": "more.", "thought": True}, {"text": "", "thought": True, "thoughtSignature": "s1"}]),
            chunk([{"text": "Hel", "thoughtSignature": "s2"}]),  # a signature on the first part of a run stays there
            chunk([{"text": "lo"}]),
            chunk([{"text": " world"}]),
            chunk([{"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}}]),
            chunk([{"text": "!"}, {"text": "", "thoughtSignature": "s3"}, {"text": " Bye"}], "STOP"),
        ]
        completion = feed("gemini", events).finish()
        self.assertEqual(completion.output[0]["parts"], [
            {"text": "Think more.", "thought": True, "thoughtSignature": "s1"},
            {"text": "Hel", "thoughtSignature": "s2"},
            {"text": "lo world"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
            {"text": "!", "thoughtSignature": "s3"},
            {"text": " Bye"},
        ])  # fmt: skip
        self.assertEqual((completion.text, completion.reasoning), ("Hello world! Bye", "Think more."))

    def test_a_signature_part_of_the_other_kind_is_its_own_part(self) -> None:
        events = [chunk([{"text": "Hmm", "thought": True}]), chunk([{"text": "", "thoughtSignature": "s"}], "STOP")]
        parts = feed("gemini", events).finish().output[0]["parts"]
        self.assertEqual(parts, [{"text": "Hmm", "thought": True}, {"text": "", "thoughtSignature": "s"}])

    def test_call_ids_given_or_made_stable(self) -> None:
        events = [chunk([{"functionCall": {"id": "fc_1", "name": "a", "args": {"x": "\u00e9"}}}, {"functionCall": {"name": "b"}}], "STOP")]
        accumulator = feed("gemini", events)
        calls = accumulator.finish().tool_calls
        self.assertEqual(calls, [ToolCall(0, "fc_1", "a", '{"x": "\u00e9"}'), ToolCall(1, "ssekit-gemini-call-1", "b", "")])
        self.assertEqual(calls, accumulator.completion.tool_calls, "the same ids on every snapshot")
        self.assertEqual(calls[1].parse_arguments(), {})

    def test_output_and_snapshots_are_frozen_in_time(self) -> None:
        accumulator = GeminiAccumulator()
        accumulator.add(chunk([{"text": "One"}]))
        early = accumulator.completion
        accumulator.add(chunk([{"text": " two"}], "STOP"))
        self.assertEqual((early.text, early.complete, early.output[0]["parts"]), ("One", False, [{"text": "One"}]))
        self.assertEqual(accumulator.completion.text, "One two")


class Chunks(unittest.TestCase):
    def test_finish_reasons_are_normalised(self) -> None:
        cases = [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
                 ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
                 ("IMAGE_SAFETY", "content_filter"), ("IMAGE_PROHIBITED_CONTENT", "content_filter"), ("IMAGE_OTHER", "content_filter"),
                 ("LANGUAGE", "LANGUAGE"), ("OTHER", "OTHER"), ("MALFORMED_FUNCTION_CALL", "MALFORMED_FUNCTION_CALL"),
                 ("UNEXPECTED_TOOL_CALL", "UNEXPECTED_TOOL_CALL"), ("NO_IMAGE", "NO_IMAGE")]  # fmt: skip
        for raw, normal in cases:
            with self.subTest(raw=raw):
                completion = feed("gemini", [chunk([{"text": "x"}], raw)]).finish()
                self.assertEqual((completion.finish_reason, completion.raw_finish_reason, completion.complete), (normal, raw, True))

    def test_stop_with_function_calls_is_tool_calls_and_other_reasons_stay(self) -> None:
        call = {"functionCall": {"name": "f", "args": {}}}
        self.assertEqual(feed("gemini", [chunk([call], "STOP")]).finish().finish_reason, "tool_calls")
        self.assertEqual(feed("gemini", [chunk([call], "MAX_TOKENS")]).finish().finish_reason, "length")

    def test_unspecified_finish_reason_is_no_end(self) -> None:
        accumulator = feed("gemini", [chunk([{"text": "Half"}], "FINISH_REASON_UNSPECIFIED")])
        self.assertFalse(accumulator.complete)
        with self.assertRaises(IncompleteStreamError) as caught:
            accumulator.finish()
        self.assertEqual((caught.exception.partial.text, caught.exception.partial.finish_reason), ("Half", None))
        self.assertIn("finishReason", str(caught.exception))

    def test_usage_snapshots_replace_each_other_and_are_final_only_after_a_finish(self) -> None:
        first = {"promptTokenCount": 10, "totalTokenCount": 10}
        later = {"promptTokenCount": 10, "toolUsePromptTokenCount": 5, "candidatesTokenCount": 4, "thoughtsTokenCount": 6,
                 "cachedContentTokenCount": 8, "totalTokenCount": 25}  # fmt: skip
        accumulator = feed("gemini", [chunk([{"text": "a"}], usageMetadata=first)])
        self.assertEqual((accumulator.completion.usage.input_tokens, accumulator.completion.usage.final), (10, False))
        accumulator.add(chunk([{"text": "b"}], usageMetadata=later))
        self.assertFalse(accumulator.completion.usage.final)
        accumulator.add(chunk([{"text": ""}], "STOP", usageMetadata=later))
        usage = accumulator.finish().usage
        self.assertEqual(usage, Usage(15, 10, 25, 6, 8, None))
        self.assertTrue(usage.final)
        self.assertEqual(usage.raw, later)

    def test_chunks_without_candidates_are_gemini_and_harmless(self) -> None:
        for payload in [{"usageMetadata": {"promptTokenCount": 3}}, {"modelVersion": "m"}, {"responseId": "r"}, {"promptFeedback": {"safetyRatings": []}}]:
            with self.subTest(payload=payload):
                self.assertEqual(detect_format(payload), "gemini")
        events = [{"responseId": "r9", "modelVersion": "gemini-x"}, {"candidates": []}, chunk([{"text": "ok"}], "STOP"),
                  {"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}}]  # fmt: skip
        completion = accumulate(events)
        self.assertEqual((completion.text, completion.id, completion.model, completion.usage.total_tokens), ("ok", "r9", "gemini-x", 4))
        self.assertTrue(completion.usage.final)

    def test_blocked_prompt_is_a_stream_error(self) -> None:
        feedback = {"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "The prompt violates policy.", "safetyRatings": []}
        blocked = {"promptFeedback": feedback, "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}, "modelVersion": "gemini-x"}
        for format in ("gemini", "auto"):
            with self.subTest(format=format):
                with self.assertRaises(StreamError) as caught:
                    accumulate([blocked], format)
                exc = caught.exception
                self.assertEqual((exc.type, exc.code, exc.retryable), ("prompt_blocked", "PROHIBITED_CONTENT", False))
                self.assertIn("blocked (PROHIBITED_CONTENT): The prompt violates policy.", exc.message)
                self.assertEqual(exc.body["promptFeedback"], feedback)
                self.assertEqual((exc.partial.text, exc.partial.model, exc.partial.usage.input_tokens), ("", "gemini-x", 9))
        with self.assertRaises(StreamError):
            completion_from_result(blocked)
        # Feedback beside candidates, or without a real reason, is no block.
        fine = chunk([{"text": "ok"}], "STOP", promptFeedback={"blockReason": "SAFETY"})
        self.assertEqual(accumulate([fine]).extra["promptFeedback"], {"blockReason": "SAFETY"})
        self.assertEqual(accumulate([{"promptFeedback": {"blockReason": "BLOCKED_REASON_UNSPECIFIED"}}, chunk([], "STOP")]).text, "")

    def test_error_chunk_in_the_stream(self) -> None:
        events = list(iter_sse(gemini_events("Before the error", error="The model is overloaded.")))
        with self.assertRaises(StreamError) as caught:
            accumulate(events)
        exc = caught.exception
        self.assertEqual((exc.message, exc.type, exc.code, exc.retryable), ("The model is overloaded.", "UNAVAILABLE", 503, True))
        self.assertEqual(exc.partial.text, "Before the error")
        for error, retryable in [({"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}, True),
                                 ({"code": 500, "message": "oops"}, True),
                                 ({"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}, False)]:  # fmt: skip
            with self.subTest(error=error):
                with self.assertRaises(StreamError) as caught:
                    feed("gemini", [chunk([{"text": "x"}]), {"error": error}])
                self.assertEqual(caught.exception.retryable, retryable)

    def test_several_candidates_fill_choices(self) -> None:
        events = [
            {"candidates": [{"content": {"parts": [{"text": "Red"}], "role": "model"}, "index": 0},
                            {"content": {"parts": [{"text": "Blue"}], "role": "model"}, "index": 1}]},
            {"candidates": [{"content": {"parts": [{"text": "!"}], "role": "model"}, "finishReason": "STOP", "index": 0}]},
            {"candidates": [{"content": {"parts": [{"functionCall": {"name": "paint"}}], "role": "model"}, "finishReason": "STOP", "index": 1}],
             "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 5, "totalTokenCount": 7}},
        ]  # fmt: skip
        accumulator = GeminiAccumulator()
        printed = [accumulator.add(event) for event in events]
        self.assertEqual(printed, ["Red", "!", ""])
        completion = accumulator.finish()
        self.assertEqual([(c.text, c.finish_reason, len(c.tool_calls)) for c in completion.choices], [("Red!", "stop", 0), ("Blue", "tool_calls", 1)])
        self.assertEqual((completion.text, completion.usage.total_tokens), ("Red!", 7))
        half = feed("gemini", events[:2])
        self.assertFalse(half.complete, "complete only once every candidate has finished")

    def test_missing_finish_is_incomplete(self) -> None:
        events = list(iter_sse(gemini_events("Almost done")))[:-1]
        with self.assertRaises(IncompleteStreamError) as caught:
            accumulate(events)
        self.assertEqual(caught.exception.partial.text, "Almost done")
        self.assertFalse(caught.exception.partial.complete)


class Results(unittest.TestCase):
    def test_non_streamed_result(self) -> None:
        result = build_result("gemini", "Whole answer.", reasoning="Because.", tool_calls=[{"name": "f", "arguments": '{"a": 1}'}],
                              usage={"input_tokens": 4, "output_tokens": 6}, id="res_1", model="gemini-x")  # fmt: skip
        self.assertEqual(detect_format(result), "gemini")
        completion = completion_from_result(result)
        self.assertEqual((completion.text, completion.reasoning, completion.finish_reason), ("Whole answer.", "Because.", "tool_calls"))
        self.assertEqual(completion.tool_calls, [ToolCall(0, "ssekit-gemini-call-0", "f", '{"a": 1}')])
        self.assertEqual((completion.id, completion.model, completion.complete, completion.usage.final), ("res_1", "gemini-x", True, True))
        self.assertEqual(completion.output[0], result["candidates"][0]["content"])

    def test_error_result(self) -> None:
        with self.assertRaises(StreamError) as caught:
            completion_from_result({"error": {"code": 404, "message": "models/nope is not found", "status": "NOT_FOUND"}})
        self.assertEqual((caught.exception.type, caught.exception.code), ("NOT_FOUND", 404))


class NextTurn(unittest.TestCase):
    def test_to_messages_is_one_model_content_with_every_part_verbatim(self) -> None:
        completion = replay(load("gemini_parallel_calls.sse"), "gemini")
        [turn] = completion.to_messages()
        self.assertEqual(turn, {"role": "model", "parts": completion.output[0]["parts"]})
        self.assertEqual(turn["parts"][2]["thoughtSignature"], SIGNATURE)
        self.assertNotIn("thoughtSignature", turn["parts"][3])
        turn["parts"].clear()
        self.assertEqual(len(completion.output[0]["parts"]), 4, "the completion is not changed through its turn")

    def test_tool_results_are_one_user_content_matched_by_id_or_by_name_and_order(self) -> None:
        calls = [ToolCall(0, "fc_7", "get_weather", "{}"), ToolCall(1, "ssekit-gemini-call-1", "get_time", "{}")]
        [message] = tool_results("gemini", [(calls[0], {"temp": 21}), (calls[1], "no such zone", True)])
        self.assertEqual(message, {"role": "user", "parts": [
            {"functionResponse": {"id": "fc_7", "name": "get_weather", "response": {"output": {"temp": 21}}}},
            {"functionResponse": {"name": "get_time", "response": {"error": "no such zone"}}},
        ]})  # fmt: skip
        self.assertEqual(tool_results("gemini", []), [])
        with self.assertRaises(SSEKitError):
            tool_results("gemini", [(calls[0],)])
        json.dumps(message)


class Robustness(unittest.TestCase):
    def test_wrong_types_never_crash(self) -> None:
        accumulator = GeminiAccumulator()
        for body in [
            {"candidates": None}, {"candidates": "x"}, {"candidates": [None, 1, "x", []]},
            {"candidates": [{"content": "x"}]}, {"candidates": [{"content": {"parts": "x", "role": 5}}]},
            {"candidates": [{"content": {"parts": [None, 1, {"text": 5}, {"text": None, "thought": "yes"}]}}]},
            {"candidates": [{"index": "0", "content": {"parts": [{"text": "ok"}]}}]},
            {"candidates": [{"index": True, "finishReason": 7}]},
            {"candidates": [{"content": {"parts": [{"functionCall": "f"}, {"functionCall": {"name": 5, "args": "[1]", "id": []}}]}}]},
            {"usageMetadata": "many", "promptFeedback": [], "responseId": 5, "modelVersion": {}},
            {"usageMetadata": {"promptTokenCount": "1", "candidatesTokenCount": True}},
        ]:  # fmt: skip
            accumulator.add(body)
            accumulator.completion.to_json()
        completion = accumulator.completion
        self.assertEqual(completion.text, "ok")
        self.assertEqual([(call.id, call.name, call.arguments) for call in completion.tool_calls], [("ssekit-gemini-call-0", None, "[1]")])
        self.assertEqual(completion.usage.input_tokens, None)

    def test_bounds_on_what_a_stream_may_open(self) -> None:
        with self.assertRaises(MalformedEventError):
            GeminiAccumulator().add({"candidates": [{"index": i, "content": {"parts": [{"text": "x"}]}} for i in range(MAX_CHOICES + 1)]})
        parts = [{"inlineData": {"data": ""}}] * (MAX_ITEMS + 1)
        with self.assertRaises(MalformedEventError):
            GeminiAccumulator().add(chunk(parts))

    def test_other_formats_events_are_not_gemini_and_gemini_is_not_theirs(self) -> None:
        for payload in [{"type": "content_block_delta"}, {"object": "chat.completion.chunk", "choices": []},
                        {"type": "response.created"}, {"type": "generation_start"}, {"type": "mystery", "candidates": []}]:  # fmt: skip
            with self.subTest(payload=payload):
                self.assertNotEqual(detect_format(payload), "gemini")
        with self.assertRaises(UnsupportedFormatError):
            accumulate([{"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "x"}}]}], "gemini")
        self.assertEqual(detect_format(chunk([{"text": "x"}])), "gemini")

    def test_a_non_object_chunk_is_malformed(self) -> None:
        with self.assertRaises(SSEKitError):
            accumulate(["[{\"candidates\": []}]"], "gemini")  # the JSON-array body of a request without alt=sse


class KeyAndUrl(unittest.TestCase):
    def test_key_header_by_format_or_by_path(self) -> None:
        for format, url in [("gemini", "https://x.test/v1"), ("auto", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
                            ("auto", "https://x.test/v1beta/models/m:generateContent")]:  # fmt: skip
            with self.subTest(url=url):
                self.assertEqual(key_header(format, url).headers("k"), {"x-goog-api-key": "k"})


if __name__ == "__main__":
    unittest.main()
