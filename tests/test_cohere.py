"""CohereAccumulator: Cohere v2 chat event streams, results, and the next turn's messages."""
import json
import random
import unittest
from typing import Any, Dict, List

from ssekit import IncompleteStreamError, SSEKitError, StreamError, ToolCall, accumulate, iter_sse, tool_results
from ssekit.formats import completion_from_result, detect_format, key_header
from ssekit.formats.base import MAX_ITEMS
from ssekit.formats.cohere import CohereAccumulator
from ssekit.testing.builders import build_events, build_result
from tests.transcripts import feed, load, replay

START = {"id": "c-1", "type": "message-start", "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "",
                                                                      "tool_calls": [], "citations": []}}}  # fmt: skip


def event(kind: str, **fields: Any) -> Dict[str, Any]:
    return dict(type=kind, **fields)


def message(**fields: Any) -> Dict[str, Any]:
    return {"message": fields}


def end(reason: Any = "COMPLETE", **more: Any) -> Dict[str, Any]:
    return event("message-end", delta=dict(finish_reason=reason, **more))


class RecordedStreams(unittest.TestCase):
    def test_tool_plan_then_two_tool_calls(self) -> None:
        completion = replay(load("cohere_tool_plan.sse"), "cohere", seed=3)
        self.assertEqual(completion.text, "")
        self.assertEqual(completion.reasoning, "I will look up the weather in Toronto and Paris.")
        self.assertEqual(completion.tool_calls, [
            ToolCall(0, "get_weather_q8gr2ydwzq6p", "get_weather", '{"location":"Toronto, Canada"}'),
            ToolCall(1, "get_weather_b2mhz1k9x4ts", "get_weather", '{"location":"Paris, France"}'),
        ])  # fmt: skip
        self.assertEqual((completion.finish_reason, completion.raw_finish_reason), ("tool_calls", "TOOL_CALL"))
        self.assertEqual((completion.id, completion.model, completion.format), ("5e5a3c4d-7b0e-4a71-8d4e-0f8f3b9b2a61", None, "cohere"))
        self.assertTrue(completion.complete)
        [output] = completion.output
        self.assertEqual(output["tool_plan"], completion.reasoning)
        self.assertEqual(output["tool_calls"][1], {"id": "get_weather_b2mhz1k9x4ts", "type": "function",
                                                   "function": {"name": "get_weather", "arguments": '{"location":"Paris, France"}'}})  # fmt: skip
        self.assertEqual((output["content"], output["citations"]), ([], []))

    def test_usage_counts_tokens_and_keeps_billed_units_in_raw(self) -> None:
        usage = accumulate(iter_sse([load("cohere_tool_plan.sse")])).usage
        self.assertEqual((usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.final), (1172, 75, 1247, True))
        self.assertEqual(usage.raw["billed_units"], {"input_tokens": 37, "output_tokens": 31})
        rag = accumulate(iter_sse([load("cohere_rag_thinking.sse")])).usage
        self.assertEqual((rag.input_tokens, rag.output_tokens, rag.cache_read_input_tokens), (1530, 98, 1024))

    def test_thinking_then_text_with_citations(self) -> None:
        completion = replay(load("cohere_rag_thinking.sse"), "cohere", seed=5)
        self.assertEqual(completion.text, "Mount Everest is the tallest mountain, at 8,849 m above sea level \u2014 on the Nepal\u2013China border.")
        self.assertEqual(completion.reasoning, "The user asks about the tallest peak. Document 0 says Everest, 8,849 m.")
        thinking, text = completion.output[0]["content"]
        self.assertEqual(thinking, {"type": "thinking", "thinking": completion.reasoning})
        self.assertEqual(text, {"type": "text", "text": completion.text})
        citations = completion.output[0]["citations"]
        self.assertEqual([completion.text[c["start"]:c["end"]] for c in citations], ["Mount Everest", "8,849 m"])
        self.assertEqual(citations[0]["sources"][0]["document"]["id"], "doc:0")
        self.assertEqual((completion.finish_reason, completion.tool_calls, completion.extra), ("stop", [], {}))

    def test_add_returns_only_answer_text(self) -> None:
        accumulator = CohereAccumulator()
        printed = [accumulator.add(sse) for sse in iter_sse([load("cohere_rag_thinking.sse")])]
        self.assertEqual("".join(printed), accumulator.completion.text)
        self.assertNotIn("The user", "".join(printed))
        self.assertTrue(accumulator.ended)

    def test_auto_recognises_the_stream_and_the_key_goes_as_bearer(self) -> None:
        self.assertEqual(replay(load("cohere_tool_plan.sse")).format, "cohere")
        self.assertEqual(detect_format(next(iter_sse([load("cohere_rag_thinking.sse")]))), "cohere")
        spec = key_header("auto", "https://api.cohere.com/v2/chat")
        self.assertEqual((spec.name, spec.headers("k")["Authorization"]), ("Authorization", "Bearer k"))

    def test_builder_stream_round_trips(self) -> None:
        calls = [{"id": "a_1", "name": "a", "arguments": '{"x": [1, 2, 3]}'}, {"id": "b_1", "name": "b", "arguments": "{}"}]
        cite = {"start": 0, "end": 4, "text": "Call", "sources": [], "type": "TEXT_CONTENT"}
        events = build_events("cohere", "Calling both.", reasoning="Need a and b.", tool_calls=calls, tool_plan="Plan.",
                              citations=[cite], usage={"input_tokens": 9, "output_tokens": 30})  # fmt: skip
        completion = replay(b"".join(events), "cohere", seed=7)
        self.assertEqual((completion.text, completion.reasoning), ("Calling both.", "Need a and b.\n\nPlan."))
        self.assertEqual([(c.index, c.id, c.arguments) for c in completion.tool_calls], [(0, "a_1", '{"x": [1, 2, 3]}'), (1, "b_1", "{}")])
        self.assertEqual(completion.output[0]["citations"], [cite])
        self.assertEqual(completion.usage.total_tokens, 39)
        self.assertEqual([sse.event for sse in iter_sse(events)][:2], ["message-start", "content-start"])


class Events(unittest.TestCase):
    def test_every_finish_reason_in_mixed_case(self) -> None:
        for raw, normal in [("COMPLETE", "stop"), ("complete", "stop"), ("Stop_Sequence", "stop"), ("MAX_TOKENS", "length"),
                            ("max_tokens", "length"), ("tool_call", "tool_calls"), ("TIMEOUT", "TIMEOUT"), ("Timeout", "Timeout"),
                            ("SOMETHING_NEW", "SOMETHING_NEW")]:  # fmt: skip
            with self.subTest(raw=raw):
                completion = feed("cohere", [START, end(raw)]).finish()
                self.assertEqual((completion.finish_reason, completion.raw_finish_reason, completion.complete), (normal, raw, True))

    def test_error_finish_raises_retryable_stream_error_with_the_partial(self) -> None:
        for reason in ("ERROR", "error", "Error"):
            with self.subTest(reason=reason):
                events = [START, event("content-start", index=0, delta=message(content={"type": "text", "text": ""})),
                          event("content-delta", index=0, delta=message(content={"text": "Half"})), end(reason, error="internal failure")]  # fmt: skip
                with self.assertRaises(StreamError) as caught:
                    feed("cohere", events)
                exc = caught.exception
                self.assertEqual((exc.message, exc.code, exc.retryable), ("internal failure", "ERROR", True))
                self.assertEqual((exc.partial.text, exc.partial.raw_finish_reason), ("Half", reason))
        with self.assertRaises(StreamError) as caught:
            feed("cohere", [START, end("ERROR")])
        self.assertIn("ERROR", caught.exception.message)

    def test_builder_error_and_error_events_raise(self) -> None:
        with self.assertRaises(StreamError) as caught:
            accumulate(iter_sse(build_events("cohere", "Before the error", error="model overloaded")))
        self.assertEqual((caught.exception.message, caught.exception.partial.text), ("model overloaded", "Before the error"))
        for sse in ("event: error\ndata: {\"message\": \"stream broke\"}\n\n", "data: {\"type\": \"error\", \"message\": \"stream broke\"}\n\n"):
            with self.subTest(sse=sse):
                with self.assertRaises(StreamError) as caught:
                    accumulate(iter_sse([b"".join(build_events("cohere", "x")[:3]) + sse.encode()]), "cohere")
                self.assertEqual(caught.exception.message, "stream broke")

    def test_debug_citation_end_and_unknown_events_are_ignored_and_done_is_harmless(self) -> None:
        events = [START, event("debug", prompt="<BOS_TOKEN>"), event("future-event", index=0),
                  event("content-delta", index=0, delta=message(content={"text": "ok"})), event("citation-end", index=0),
                  end(), "[DONE]"]  # fmt: skip
        completion = feed("cohere", events).finish()
        self.assertEqual((completion.text, completion.output[0]["content"]), ("ok", [{"type": "text", "text": "ok"}]))

    def test_message_end_ends_the_stream_and_its_absence_is_incomplete(self) -> None:
        events = list(iter_sse(build_events("cohere", "Almost done")))
        with self.assertRaises(IncompleteStreamError) as caught:
            accumulate(events[:-1])
        self.assertEqual(caught.exception.partial.text, "Almost done")
        self.assertIn("message-end", str(caught.exception))
        accumulator = feed("cohere", events)
        self.assertTrue(accumulator.ended)

    def test_a_list_where_one_object_belongs_is_read_and_indexless_deltas_extend_the_latest(self) -> None:
        call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}
        events = [START, event("tool-call-start", index=0, delta=message(tool_calls=[call])),
                  event("tool-call-delta", delta=message(tool_calls={"function": {"arguments": "{}"}})),
                  event("content-delta", delta=message(content={"text": "a"})), event("content-delta", delta=message(content={"text": "b"})),
                  end("TOOL_CALL")]  # fmt: skip
        completion = feed("cohere", events).finish()
        self.assertEqual((completion.tool_calls, completion.text), ([ToolCall(0, "t1", "f", "{}")], "ab"))
        self.assertEqual(len(completion.output[0]["content"]), 1)

    def test_whole_float_counts_are_counts(self) -> None:
        usage = feed("cohere", [START, end(usage={"tokens": {"input_tokens": 5.0, "output_tokens": 2.5}})]).finish().usage
        self.assertEqual((usage.input_tokens, usage.output_tokens), (5, None))

    def test_wrong_types_never_crash(self) -> None:
        accumulator = CohereAccumulator()
        rng = random.Random(11)
        wrong = [None, 1, "x", [], {}, [None], {"message": None}, {"message": []}, {"message": {"content": 5}}, True]
        kinds = list(CohereAccumulator._events)
        for number in range(2000):
            kind = rng.choice(kinds)
            if kind == "error":
                continue
            accumulator.add(event(kind, index=rng.choice([0, 1, None, "0", -1, 2 ** 70, 1.5]), delta=rng.choice(wrong), id=rng.choice(wrong)))
            if number % 10 == 0:  # (the answer only grows: every state of it need not be encoded)
                accumulator.completion.to_json()
        accumulator.add(event("content-delta", index=7, delta=message(content={"text": "kept"})))
        self.assertIn("kept", accumulator.completion.text)

    def test_what_a_stream_may_open_is_bounded(self) -> None:
        accumulator = CohereAccumulator()
        with self.assertRaises(SSEKitError) as caught:
            for number in range(MAX_ITEMS + 1):
                accumulator.add(event("citation-start", index=number, delta=message(citations={"start": number})))
        self.assertIn("more than %d" % MAX_ITEMS, str(caught.exception))


class Results(unittest.TestCase):
    RESULT = {
        "id": "r-1",
        "finish_reason": "TOOL_CALL",
        "message": {"role": "assistant", "tool_plan": "I will search.", "content": [{"type": "thinking", "thinking": "Hm."}],
                    "tool_calls": [{"id": "s_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "x"}'}}],
                    "citations": [{"start": 0, "end": 1, "text": "I", "type": "PLAN"}]},
        "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 4}, "tokens": {"input_tokens": 30, "output_tokens": 4}},
    }  # type: Dict[str, Any]  # fmt: skip

    def test_non_streamed_result(self) -> None:
        completion = completion_from_result(self.RESULT)
        self.assertEqual((completion.format, completion.id, completion.finish_reason, completion.complete), ("cohere", "r-1", "tool_calls", True))
        self.assertEqual((completion.reasoning, completion.tool_calls), ("Hm.\n\nI will search.", [ToolCall(0, "s_1", "search", '{"q": "x"}')]))
        self.assertEqual((completion.usage.input_tokens, completion.usage.raw["billed_units"]["output_tokens"]), (30, 4))
        self.assertEqual(completion.to_messages(), [self.RESULT["message"]])

    def test_result_matches_its_stream(self) -> None:
        options = {"tool_calls": [{"id": "c_1", "name": "f", "arguments": '{"a": 1}'}], "reasoning": "Why.", "usage": {"input_tokens": 2, "output_tokens": 3}}
        streamed = accumulate(iter_sse(build_events("cohere", "Text.", **options)))
        whole = completion_from_result(build_result("cohere", "Text.", **options))
        for name in ("text", "reasoning", "tool_calls", "finish_reason", "id", "usage"):
            self.assertEqual(getattr(whole, name), getattr(streamed, name), name)
        self.assertEqual(detect_format(build_result("cohere", "x")), "cohere")

    def test_error_result_raises(self) -> None:
        with self.assertRaises(StreamError) as caught:
            completion_from_result(dict(self.RESULT, finish_reason="error"))
        self.assertEqual(caught.exception.partial.tool_calls[0].id, "s_1")


class NextTurn(unittest.TestCase):
    def test_to_messages_is_one_assistant_message_verbatim(self) -> None:
        completion = replay(load("cohere_rag_thinking.sse"), "cohere")
        [turn] = completion.to_messages()
        self.assertEqual(list(turn), ["role", "content", "citations"])  # the empty tool plan and calls are left out
        self.assertEqual(turn["content"], completion.output[0]["content"])
        turn["content"].clear()
        self.assertEqual(len(completion.output[0]["content"]), 2, "a copy: the completion is unchanged")
        [calls] = replay(load("cohere_tool_plan.sse"), "cohere").to_messages()
        self.assertEqual(list(calls), ["role", "tool_plan", "tool_calls"])
        json.dumps(calls)

    def test_tool_results_one_tool_message_per_call(self) -> None:
        calls = replay(load("cohere_tool_plan.sse"), "cohere").tool_calls
        results = tool_results("cohere", [(calls[0], {"temp": 21}), (calls[1], "18 C"), (ToolCall(2, "x_1", "f"), [1, 2]), (calls[1], "no such city", True)])
        self.assertEqual([m["tool_call_id"] for m in results], ["get_weather_q8gr2ydwzq6p", "get_weather_b2mhz1k9x4ts", "x_1", "get_weather_b2mhz1k9x4ts"])
        self.assertEqual({m["role"] for m in results}, {"tool"})
        documents = [m["content"] for m in results]  # type: List[Any]
        self.assertEqual(documents[0], [{"type": "document", "document": {"data": {"temp": 21}}}])
        self.assertEqual([d[0]["document"]["data"] for d in documents[1:]], ["18 C", "[1, 2]", {"error": "no such city"}])


if __name__ == "__main__":
    unittest.main()
