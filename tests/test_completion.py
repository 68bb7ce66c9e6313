"""Non-streamed results (completion_from_result) and the Completion values the accumulators build."""
import json
import unittest

from ssekit import Completion, StreamError, ToolCall, ToolCallArgumentsError, UnsupportedFormatError, Usage, accumulate, iter_sse
from ssekit.formats import FORMATS, completion_from_result
from ssekit.testing.builders import build_events, build_result

CHAT_COMPLETION = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {"id": "call_ujD3", "type": "function", "function": {"name": "get_weather", "arguments": '{"location":"Boston, MA"}'}}
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99, "prompt_tokens_details": {"cached_tokens": 0}},
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}

RESPONSE = {
    "id": "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41",
    "object": "response",
    "created_at": 1741476777,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "model": "gpt-4o-2024-08-06",
    "output": [
        {
            "type": "message",
            "id": "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "The image depicts a scenic landscape.", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 328, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 52, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 380},
}

MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Hello! How can I help?"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 8, "cache_read_input_tokens": 0},
}

GENERATION = {"object": "generation", "id": "gen_77", "model": "gateway-fast", "text": "Done.", "tokens_used": 9, "balance_remaining": 991}


class NonStreamedResults(unittest.TestCase):
    def test_chat_completion_object(self) -> None:
        completion = completion_from_result(CHAT_COMPLETION)
        self.assertEqual(completion.tool_calls, [ToolCall(0, "call_ujD3", "get_weather", '{"location":"Boston, MA"}')])
        self.assertEqual((completion.text, completion.finish_reason, completion.complete), ("", "tool_calls", True))
        self.assertEqual((completion.usage.input_tokens, completion.usage.output_tokens), (82, 17))
        self.assertEqual(completion.format, "chat_completions")

    def test_responses_response_object(self) -> None:
        completion = completion_from_result(RESPONSE)
        self.assertEqual(completion.text, "The image depicts a scenic landscape.")
        self.assertEqual((completion.id, completion.finish_reason, completion.usage.total_tokens), (RESPONSE["id"], "stop", 380))
        self.assertEqual(completion.extra, {"status": "completed"})

    def test_anthropic_message_object(self) -> None:
        completion = completion_from_result(MESSAGE)
        self.assertEqual((completion.text, completion.finish_reason, completion.raw_finish_reason), ("Hello! How can I help?", "stop", "end_turn"))
        self.assertEqual((completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.total_tokens), (12, 8, 20))

    def test_anthropic_tool_use_input_becomes_the_arguments(self) -> None:
        message = dict(MESSAGE, content=[{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"city": "Z\u00fcrich"}}], stop_reason="tool_use")
        call = completion_from_result(message).tool_calls[0]
        self.assertEqual((call.id, call.name, call.parse_arguments()), ("toolu_1", "f", {"city": "Z\u00fcrich"}))

    def test_generation_result(self) -> None:
        completion = completion_from_result(GENERATION)
        self.assertEqual((completion.text, completion.id, completion.usage.total_tokens), ("Done.", "gen_77", 9))
        self.assertEqual(completion.usage.raw["balance_remaining"], 991)
        self.assertEqual(completion_from_result({"generation_id": "g", "content": "Alt", "tokens_used": 2}).text, "Alt")

    def test_builder_results_match_the_streams(self) -> None:
        """A result and a stream of the same answer give the same Completion."""
        tool_calls = [{"id": "call_1", "name": "lookup", "arguments": '{"q": "sse"}'}]
        for name in FORMATS:
            with self.subTest(format=name):
                options = {"usage": {"input_tokens": 5, "output_tokens": 6}}
                if name != "generation":
                    options["tool_calls"] = tool_calls
                streamed = accumulate(iter_sse(build_events(name, "An answer.", **options)))
                result = completion_from_result(build_result(name, "An answer.", **options))
                self.assertEqual(result, streamed)

    def test_fallback_id_when_the_result_has_none(self) -> None:
        body = {"object": "chat.completion", "choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "stop"}]}
        self.assertEqual(completion_from_result(body, fallback_id="req_abc").id, "req_abc")

    def test_error_objects_raise_stream_error(self) -> None:
        cases = [
            ({"error": {"message": "Invalid API key", "type": "invalid_request_error", "code": "invalid_api_key"}}, "invalid_request_error"),
            ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "overloaded_error"),
            (dict(RESPONSE, status="failed", error={"code": "server_error", "message": "boom"}), None),
        ]
        for body, kind in cases:
            with self.subTest(body=body):
                with self.assertRaises(StreamError) as caught:
                    completion_from_result(body)
                self.assertEqual(caught.exception.type, kind)
                self.assertTrue(caught.exception.message)

    def test_anything_else_is_unsupported(self) -> None:
        for body in [{"hello": "world"}, [1, 2], "text", None]:
            with self.subTest(body=body):
                with self.assertRaises(UnsupportedFormatError):
                    completion_from_result(body)


class CompletionValues(unittest.TestCase):
    def completion(self) -> Completion:
        return completion_from_result(CHAT_COMPLETION)

    def test_equal_values_compare_equal_and_reprs_are_readable(self) -> None:
        self.assertEqual(self.completion(), self.completion())
        self.assertIn("get_weather", repr(self.completion()))
        self.assertNotEqual(self.completion(), completion_from_result(MESSAGE))

    def test_to_json_round_trips(self) -> None:
        data = json.loads(self.completion().to_json())
        self.assertEqual(data["tool_calls"][0]["arguments"], '{"location":"Boston, MA"}')
        self.assertEqual(data["usage"]["total_tokens"], 99)
        self.assertEqual(data["format"], "chat_completions")

    def test_usage_normalisation_keeps_the_raw_dict(self) -> None:
        usage = self.completion().usage
        self.assertEqual(usage, Usage(82, 17, 99, cache_read_input_tokens=0))
        self.assertTrue(usage.final)
        self.assertEqual(usage.raw["prompt_tokens_details"], {"cached_tokens": 0})

    def test_invalid_tool_arguments_raise_a_clear_error(self) -> None:
        body = json.loads(json.dumps(CHAT_COMPLETION))
        body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = '{"location": '
        with self.assertRaises(ToolCallArgumentsError) as caught:
            completion_from_result(body).tool_calls[0].parse_arguments()
        self.assertIn("get_weather", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
