"""ssekit.testing.builders: byte-exact provider streams, results, token splitting and chunking helpers."""
import json
import math
import random
import unittest
from typing import Any, Dict, List

import ssekit.formats
from ssekit import UnsupportedFormatError, Usage, iter_sse
from ssekit.testing.builders import (
    build_events,
    build_result,
    chat_completions_events,
    chunkings,
    gemini_events,
    generation_events,
    messages_events,
    random_chunks,
    responses_events,
    split_tokens,
    sse_event,
)
from ssekit.testing.providers import PROVIDERS

CALLS = [
    {"id": "call_1", "name": "alpha", "arguments": '{"first": "value one", "n": 1}'},
    {"id": "call_2", "name": "beta", "arguments": '{"second": "value two"}'},
]


def payloads(events: List[bytes]) -> List[Any]:
    return [event.data if event.data == "[DONE]" else event.json() for event in iter_sse(events)]


class Tokens(unittest.TestCase):
    def test_split_tokens_keeps_every_character(self) -> None:
        for text in ["The capital of France is Paris.", "  two  spaces\n\nand\tabs ", "caf\u00e9 \u2014 na\u00efve \U0001f600!", "", "a"]:
            with self.subTest(text=text):
                self.assertEqual("".join(split_tokens(text)), text)

    def test_split_tokens_gives_word_pieces_with_leading_spaces(self) -> None:
        self.assertEqual(split_tokens("The capital of France is Paris."), ["The", " capital", " of", " France", " is", " Paris", "."])


class Framing(unittest.TestCase):
    def test_sse_event_bytes(self) -> None:
        self.assertEqual(sse_event({"a": 1, "b": "\u00e9"}), 'data: {"a":1,"b":"\u00e9"}\n\n'.encode("utf-8"))
        self.assertEqual(sse_event({"type": "ping"}, "ping"), b'event: ping\ndata: {"type":"ping"}\n\n')
        self.assertEqual(sse_event("[DONE]"), b"data: [DONE]\n\n")

    def test_every_format_has_its_testing_twin(self) -> None:
        # (the CLI's demo and serve offer every format of ssekit.formats on the gateway)
        self.assertEqual(sorted(PROVIDERS), sorted(ssekit.formats.FORMATS))

    def test_each_item_is_exactly_one_event(self) -> None:
        for name in sorted(PROVIDERS):
            options = {} if name == "generation" else {"tool_calls": CALLS}
            for item in build_events(name, "One two.", **options):
                with self.subTest(format=name, item=item[:40]):
                    self.assertEqual(len(list(iter_sse([item]))), 1)
                    self.assertTrue(item.endswith(b"\n\n"))

    def test_output_is_deterministic(self) -> None:
        self.assertEqual(build_events("responses", "Same.", tool_calls=CALLS), build_events("responses", "Same.", tool_calls=CALLS))

    def test_random_chunks_and_chunkings_give_the_bytes_back(self) -> None:
        data = b"".join(chat_completions_events("Some text to cut."))
        self.assertEqual(b"".join(random_chunks(data, random.Random(1), 5)), data)
        cuttings = list(chunkings(data, seed=2, count=4))
        self.assertEqual(len(cuttings), 6)
        self.assertEqual(len(cuttings[1]), len(data))
        for chunks in cuttings:
            self.assertEqual(b"".join(chunks), data)


class ChatCompletions(unittest.TestCase):
    def test_chunk_shape_and_order(self) -> None:
        items = payloads(chat_completions_events("Hi there", usage={"prompt_tokens": 3, "completion_tokens": 2}))
        self.assertEqual(items[-1], "[DONE]")
        first, usage_chunk = items[0], items[-2]
        self.assertEqual(first["object"], "chat.completion.chunk")
        self.assertEqual(first["choices"][0]["delta"], {"role": "assistant", "content": "", "refusal": None})
        self.assertIsNone(first["usage"])
        self.assertEqual([item["choices"][0]["delta"].get("content") for item in items[1:3]], ["Hi", " there"])
        self.assertEqual(items[-3]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(usage_chunk["choices"], [])
        self.assertEqual(usage_chunk["usage"], {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})

    def test_no_usage_chunk_unless_asked(self) -> None:
        items = payloads(chat_completions_events("x", include_done=False))
        self.assertTrue(all("usage" not in item for item in items))
        self.assertEqual(items[-1]["choices"][0]["finish_reason"], "stop")

    def test_parallel_tool_calls_are_interleaved_and_opened_once(self) -> None:
        deltas = [item["choices"][0]["delta"]["tool_calls"][0] for item in payloads(chat_completions_events(tool_calls=CALLS)) if isinstance(item, dict) and item["choices"] and "tool_calls" in item["choices"][0]["delta"]]
        self.assertEqual([d["index"] for d in deltas[:4]], [0, 1, 0, 1])
        opened = [d for d in deltas if "id" in d]
        self.assertEqual([(d["id"], d["function"]["name"]) for d in opened], [("call_1", "alpha"), ("call_2", "beta")])
        for index, call in enumerate(CALLS):
            fragments = [d["function"]["arguments"] for d in deltas if d["index"] == index]
            self.assertGreater(len(fragments), 2)
            self.assertEqual("".join(fragments), call["arguments"])
        self.assertEqual(payloads(chat_completions_events(tool_calls=CALLS))[-2]["choices"][0]["finish_reason"], "tool_calls")

    def test_error_replaces_the_end(self) -> None:
        items = payloads(chat_completions_events("x", error="boom"))
        self.assertEqual(items[-1], {"error": {"type": "server_error", "message": "boom"}})


class Responses(unittest.TestCase):
    def test_event_names_sequence_numbers_and_order(self) -> None:
        events = list(iter_sse(responses_events("Hi", tool_calls=CALLS[:1], reasoning="r")))
        names = [event.event for event in events]
        self.assertEqual([event.json()["type"] for event in events], names)
        self.assertEqual([event.json()["sequence_number"] for event in events], list(range(len(events))))
        self.assertEqual(names[:2], ["response.created", "response.in_progress"])
        self.assertEqual(names[-1], "response.completed")
        for earlier, later in [
            ("response.reasoning_summary_text.delta", "response.output_text.delta"),
            ("response.output_text.delta", "response.output_text.done"),
            ("response.output_text.done", "response.function_call_arguments.delta"),
            ("response.function_call_arguments.delta", "response.function_call_arguments.done"),
        ]:
            self.assertLess(names.index(earlier), names.index(later))
        final = events[-1].json()["response"]
        self.assertEqual([item["type"] for item in final["output"]], ["reasoning", "message", "function_call"])
        self.assertEqual(final["output"][2]["call_id"], "call_1")

    def test_length_finish_gives_response_incomplete(self) -> None:
        last = list(iter_sse(responses_events("x", finish_reason="length")))[-1]
        self.assertEqual(last.event, "response.incomplete")
        self.assertEqual(last.json()["response"]["incomplete_details"], {"reason": "max_output_tokens"})

    def test_error_event(self) -> None:
        last = list(iter_sse(responses_events("x", error="bad")))[-1]
        self.assertEqual(last.event, "error")
        self.assertEqual((last.json()["code"], last.json()["message"]), ("server_error", "bad"))


class Messages(unittest.TestCase):
    def test_event_order_ping_and_blocks(self) -> None:
        events = list(iter_sse(messages_events("Hi", tool_calls=CALLS[:1], reasoning="r", usage=Usage(10, 4, 14))))
        names = [event.event for event in events]
        self.assertEqual([event.json()["type"] for event in events], names)
        self.assertEqual(names[:3], ["message_start", "content_block_start", "ping"])
        self.assertEqual(names[-2:], ["message_delta", "message_stop"])
        starts = [event.json()["content_block"] for event in events if event.event == "content_block_start"]
        self.assertEqual([block["type"] for block in starts], ["thinking", "text", "tool_use"])
        self.assertEqual(starts[2]["input"], {})
        start_usage = events[0].json()["message"]["usage"]
        self.assertEqual((start_usage["input_tokens"], start_usage["output_tokens"]), (10, 1))
        delta = events[-2].json()
        self.assertEqual((delta["delta"]["stop_reason"], delta["usage"]), ("tool_use", {"output_tokens": 4}))
        kinds = [event.json()["delta"]["type"] for event in events if event.event == "content_block_delta"]
        self.assertIn("signature_delta", kinds)
        self.assertEqual(kinds.count("input_json_delta"), 1 + math.ceil(len(CALLS[0]["arguments"]) / 7))  # "" first, as Anthropic does

    def test_normalised_finish_reasons_become_stop_reasons(self) -> None:
        for given, native in [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("stop_sequence", "stop_sequence")]:
            with self.subTest(given=given):
                events = list(iter_sse(messages_events("x", finish_reason=given)))
                self.assertEqual(events[-2].json()["delta"]["stop_reason"], native)

    def test_error_event(self) -> None:
        last = list(iter_sse(messages_events("x", error="Overloaded")))[-1]
        self.assertEqual(last.json(), {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


class Generation(unittest.TestCase):
    def test_frames(self) -> None:
        items = payloads(generation_events("Hi there", usage={"tokens_used": 7}, balance_remaining=93))
        self.assertEqual(items[0]["type"], "generation_start")
        self.assertEqual([item["delta"] for item in items[1:3]], ["Hi", " there"])
        self.assertEqual(items[3], {"type": "generation_end", "tokens_used": 7, "balance_remaining": 93})
        self.assertEqual(items[4], "[DONE]")

    def test_error_frame_then_done(self) -> None:
        items = payloads(generation_events("x", error="no credit"))
        self.assertEqual(items[-2:], [{"type": "error", "message": "no credit"}, "[DONE]"])

    def test_tool_calls_are_refused(self) -> None:
        with self.assertRaises(UnsupportedFormatError):
            generation_events("x", tool_calls=CALLS)


class Gemini(unittest.TestCase):
    def test_chunks_parts_running_usage_and_no_done(self) -> None:
        items = payloads(gemini_events("Hi there", reasoning="Hm", usage={"input_tokens": 5, "output_tokens": 2}, id="r1", model="gemini-x"))
        parts = [item["candidates"][0]["content"]["parts"] for item in items]
        self.assertEqual(parts, [[{"text": "Hm", "thought": True}], [{"text": "Hi"}], [{"text": " there"}],
                                 [{"text": "", "thoughtSignature": "CiQB0e2Kb7sig0123456789abcdef"}]])  # fmt: skip
        self.assertEqual({(item["responseId"], item["modelVersion"]) for item in items}, {("r1", "gemini-x")})
        self.assertEqual([item["usageMetadata"]["candidatesTokenCount"] for item in items], [0, 1, 2, 2])
        self.assertEqual([item["candidates"][0].get("finishReason") for item in items], [None, None, None, "STOP"])

    def test_parallel_calls_come_whole_with_the_signature_on_the_first(self) -> None:
        last = payloads(gemini_events(tool_calls=[CALLS[0], {"name": "beta", "arguments": "{}"}], reasoning="r"))[-1]
        first, second = last["candidates"][0]["content"]["parts"]
        self.assertEqual(first["functionCall"], {"id": "call_1", "name": "alpha", "args": {"first": "value one", "n": 1}})
        self.assertIn("thoughtSignature", first)
        self.assertEqual(second, {"functionCall": {"name": "beta", "args": {}}}, "no id unless given, no signature")
        self.assertEqual(last["candidates"][0]["finishReason"], "STOP")

    def test_finish_reasons_and_error_chunk(self) -> None:
        for given, native in [("stop", "STOP"), ("length", "MAX_TOKENS"), ("content_filter", "SAFETY"), ("RECITATION", "RECITATION")]:
            with self.subTest(given=given):
                self.assertEqual(payloads(gemini_events("x", finish_reason=given))[-1]["candidates"][0]["finishReason"], native)
        self.assertEqual(payloads(gemini_events("x", error="Overloaded"))[-1],
                         {"error": {"code": 503, "message": "Overloaded", "status": "UNAVAILABLE"}})  # fmt: skip


class ByName(unittest.TestCase):
    def test_unknown_format(self) -> None:
        for builder in (build_events, build_result):
            with self.assertRaises(UnsupportedFormatError) as caught:
                builder("bogus", "x")
            self.assertIn("chat_completions", str(caught.exception))

    def test_build_events_dispatches_with_the_same_keywords(self) -> None:
        options = {"tokens": ["A", " b"], "usage": {"input_tokens": 1, "output_tokens": 2}, "model": "m-1", "id": "id-1"}
        self.assertEqual(build_events("messages", **options), messages_events(**options))
        self.assertEqual(build_events("generation", **options), generation_events(**options))

    def test_missing_tool_call_ids_are_made_up(self) -> None:
        result = build_result("messages", tool_calls=[{"name": "f", "arguments": "{}"}])
        self.assertTrue(result["content"][0]["id"].startswith("toolu_"))

    def test_result_shapes(self) -> None:
        usage = {"prompt_tokens": 2, "completion_tokens": 3}
        chat = build_result("chat_completions", "Hello", usage=usage)
        self.assertEqual((chat["object"], chat["choices"][0]["message"]["content"], chat["usage"]["total_tokens"]), ("chat.completion", "Hello", 5))
        response = build_result("responses", "Hello", usage=usage, finish_reason="length")
        self.assertEqual((response["object"], response["status"], response["usage"]["input_tokens"]), ("response", "incomplete", 2))
        message = build_result("messages", "Hello", usage=usage)
        self.assertEqual((message["type"], message["stop_reason"], message["content"]), ("message", "end_turn", [{"type": "text", "text": "Hello"}]))
        generation = build_result("generation", "Hello", usage=usage)  # type: Dict[str, Any]
        self.assertEqual((generation["text"], generation["tokens_used"]), ("Hello", 5))
        gemini = build_result("gemini", "Hello", usage=usage)
        self.assertEqual((gemini["candidates"][0]["content"], gemini["usageMetadata"]["totalTokenCount"]),
                         ({"parts": [{"text": "Hello"}], "role": "model"}, 5))  # fmt: skip
        json.dumps([chat, response, message, generation, gemini])


if __name__ == "__main__":
    unittest.main()
