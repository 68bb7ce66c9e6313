"""The embedded LLM gateway: every format streamed and whole, request handling, pacing, faults, the feed."""
import json
import time
import unittest
from typing import Any, Dict, List, Optional

import requests

import ssekit
from ssekit import IncompleteStreamError, ServerSentEvent, StreamTimeoutError, accumulate, iter_sse, stream_completion
from ssekit.formats import completion_from_result
from ssekit.testing import DEFAULT_ANSWER, DEFAULT_MODEL, DEFAULT_PROMPT, PATHS, LocalGateway, sample_request, split_tokens
from ssekit.testing.providers import PROVIDERS

FORMATS = sorted(PATHS)
#: Formats whose answers never name the model (Cohere's v2 chat).
MODEL_UNNAMED = {"cohere"}
ANSWER_TOKENS = len(split_tokens(DEFAULT_ANSWER))
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "examples": ["Paris"]},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
    },
    "required": ["city", "unit"],
}


class GatewayTestCase(unittest.TestCase):
    """A fresh gateway and session per test."""

    pace = 0.0
    api_key = None  # type: Optional[str]

    def setUp(self) -> None:
        self.log = []  # type: List[str]
        self.gateway = LocalGateway(pace=self.pace, api_key=self.api_key, log=self.log.append).start()
        self.addCleanup(self.gateway.close)
        self.session = requests.Session()
        self.addCleanup(self.session.close)

    def post(self, format: str, body: Any, *, stream: bool = True, model: str = DEFAULT_MODEL, **kwargs: Any) -> requests.Response:
        """POST *body* to *format*'s endpoint (*stream* and *model* matter where the path names them)."""
        url = self.gateway.url(format, model=model, stream=stream)
        response = self.session.post(url, json=body, stream=True, timeout=5, **kwargs)
        self.addCleanup(response.close)
        return response

    def events(self, response: requests.Response) -> List[ServerSentEvent]:
        return list(iter_sse(response.iter_content(chunk_size=None)))


class Streams(GatewayTestCase):
    def test_each_format_streams_the_answer_with_usage_and_finish_reason(self) -> None:
        for format in FORMATS:
            with self.subTest(format=format):
                response = self.post(format, sample_request(format, model="my-model"), model="my-model")
                self.assertEqual(response.status_code, 200)
                self.assertTrue(response.headers["Content-Type"].startswith("text/event-stream"))
                events = self.events(response)
                completion = accumulate(events, format=format)
                self.assertEqual(completion.text, DEFAULT_ANSWER)
                self.assertEqual(completion.finish_reason, "stop")
                self.assertTrue(completion.complete)
                self.assertEqual(completion.format, format)
                prompt_tokens = len(split_tokens(DEFAULT_PROMPT))
                if format == "generation":
                    self.assertEqual(completion.usage.total_tokens, prompt_tokens + ANSWER_TOKENS)
                else:
                    self.assertEqual(completion.usage.input_tokens, prompt_tokens)
                    self.assertEqual(completion.usage.output_tokens, ANSWER_TOKENS)
                    self.assertEqual(completion.model, None if format in MODEL_UNNAMED else "my-model")
                self.assertTrue(completion.id and completion.id.endswith(str(len(self.gateway.requests))))
                self.assertGreater(len(events), ANSWER_TOKENS, "the answer must come token by token")

    def test_each_format_answers_whole_json_without_stream(self) -> None:
        for format in FORMATS:
            with self.subTest(format=format):
                response = self.post(format, sample_request(format, stream=False), stream=False)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.headers["Content-Type"], "application/json")
                self.assertTrue(response.headers["x-request-id"].startswith("req_local_"))
                completion = completion_from_result(response.json())
                self.assertEqual(completion.text, DEFAULT_ANSWER)
                self.assertEqual(completion.finish_reason, "stop")

    def test_chat_usage_only_with_include_usage(self) -> None:
        body = sample_request("chat_completions")
        del body["stream_options"]
        completion = accumulate(self.events(self.post("chat_completions", body)))
        self.assertIsNone(completion.usage.total_tokens)
        self.assertEqual(completion.text, DEFAULT_ANSWER)

    def test_max_tokens_cuts_the_answer_with_finish_reason_length(self) -> None:
        for format in FORMATS:
            with self.subTest(format=format):
                body = sample_request(format)
                *outer, key = PROVIDERS[format].MAX_TOKENS_KEYS[0].split(".")  # (Gemini's is generationConfig.maxOutputTokens)
                target = body
                for name in outer:
                    target = target.setdefault(name, {})
                target[key] = 5
                completion = accumulate(self.events(self.post(format, body)), format=format)
                self.assertEqual(completion.text, "".join(split_tokens(DEFAULT_ANSWER)[:5]))
                self.assertEqual(completion.finish_reason, "length")

    def test_tools_give_a_tool_call_with_arguments_from_the_schema(self) -> None:
        tools = {
            "chat_completions": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}],
            "responses": [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}],
            "messages": [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}],
            "cohere": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}],
            "gemini": [{"functionDeclarations": [{"name": "get_weather", "parameters": WEATHER_SCHEMA}]}],
        }
        for format, offered in tools.items():
            for stream in (True, False):
                with self.subTest(format=format, stream=stream):
                    body = dict(sample_request(format, stream=stream), tools=offered)
                    response = self.post(format, body, stream=stream)
                    if stream:
                        completion = accumulate(self.events(response), format=format)
                    else:
                        completion = completion_from_result(response.json())
                    self.assertEqual(completion.finish_reason, "tool_calls")
                    self.assertEqual(completion.text, "")
                    [call] = completion.tool_calls
                    self.assertEqual(call.name, "get_weather")
                    self.assertEqual(call.parse_arguments(), {"city": "Paris", "unit": "celsius"})
                    self.assertTrue(call.id)

    def test_tool_choice_none_answers_in_text(self) -> None:
        body = dict(sample_request("chat_completions"), tool_choice="none",
                    tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
        self.assertEqual(accumulate(self.events(self.post("chat_completions", body))).text, DEFAULT_ANSWER)

    def test_custom_answer_and_stream_completion_end_to_end(self) -> None:
        self.gateway.answer = "Short answer."
        with ssekit.stream_completion(self.gateway.url("messages"), json=sample_request("messages"), timeout=5) as stream:
            pieces = list(stream)
        self.assertEqual(pieces, ["Short", " answer", "."])
        self.assertEqual(stream.completion.usage.output_tokens, 3)


class Pacing(GatewayTestCase):
    pace = 0.05

    def test_tokens_arrive_paced(self) -> None:
        self.gateway.answer = "one two three four five"
        arrivals = []
        start = time.monotonic()
        for _ in iter_sse(self.post("generation", sample_request("generation")).iter_content(chunk_size=None)):
            arrivals.append(time.monotonic() - start)
        # generation_start, five deltas, generation_end, [DONE]: seven gaps of one pace each
        self.assertEqual(len(arrivals), 8)
        self.assertGreaterEqual(arrivals[-1] - arrivals[0], 7 * self.pace * 0.8)
        self.assertGreaterEqual(arrivals[2] - arrivals[1], self.pace * 0.5, "tokens must not arrive in one burst")


class BadRequests(GatewayTestCase):
    def assert_error(self, response: requests.Response, status: int, words: str) -> Dict[str, Any]:
        self.assertEqual(response.status_code, status)
        body = response.json()
        error = body["error"]
        self.assertIn(words, error["message"])
        return body

    def test_missing_model(self) -> None:
        body = self.assert_error(self.post("chat_completions", {"messages": [{"role": "user", "content": "x"}]}), 400, "'model' is required")
        self.assertEqual(body["error"]["type"], "invalid_request_error")
        self.assertEqual(self.log, ["POST /v1/chat/completions -> 400 'model' is required"])

    def test_anthropic_error_shape(self) -> None:
        body = self.assert_error(self.post("messages", {"model": "m"}), 400, "'messages' is required")
        self.assertEqual(body["type"], "error")
        self.assertEqual(body["error"]["type"], "invalid_request_error")

    def test_body_not_a_json_object(self) -> None:
        self.assert_error(self.post("responses", ["not", "an", "object"]), 400, "JSON object")
        response = self.session.post(self.gateway.url("generation"), data=b"{oops", timeout=5)
        self.assert_error(response, 400, "JSON object")

    def test_generation_accepts_prompt_or_messages(self) -> None:
        self.assert_error(self.post("generation", {"model": "m"}), 400, "'prompt' or 'messages' is required")
        body = {"model": "m", "stream": False, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
        self.assertEqual(self.post("generation", body).json()["text"], DEFAULT_ANSWER)

    def test_bad_max_tokens(self) -> None:
        self.assert_error(self.post("messages", dict(sample_request("messages"), max_tokens=0)), 400, "positive integer")

    def test_get_is_refused(self) -> None:
        self.assert_error(self.session.get(self.gateway.url("chat_completions"), timeout=5), 405, "use POST")


class ApiKey(GatewayTestCase):
    api_key = "sk-local-secret"

    def test_key_required_in_the_header_each_format_uses(self) -> None:
        self.assertEqual(self.post("chat_completions", sample_request("chat_completions")).status_code, 401)
        wrong = self.post("chat_completions", sample_request("chat_completions"), headers={"Authorization": "Bearer nope"})
        self.assertEqual(wrong.status_code, 401)
        bearer = self.post("chat_completions", sample_request("chat_completions"), headers={"Authorization": "Bearer " + self.api_key})
        self.assertEqual(bearer.status_code, 200)
        anthropic = self.post("messages", sample_request("messages"), headers={"x-api-key": self.api_key})
        self.assertEqual(anthropic.status_code, 200)
        refused = self.post("messages", sample_request("messages"), headers={"Authorization": "Bearer " + self.api_key})
        self.assertEqual(refused.status_code, 401, "Anthropic's API reads x-api-key only")
        self.assertEqual(refused.json()["error"]["type"], "authentication_error")
        self.assertEqual(self.post("chat_completions", {}, headers={"x-api-key": self.api_key}).status_code, 401)
        self.assertFalse([line for line in self.log if self.api_key in line], "the key must never be logged")

    def test_stream_completion_sends_the_key_as_each_format_wants(self) -> None:
        for format in ("messages", "auto"):
            with self.subTest(format=format):
                url = self.gateway.url("messages")
                with stream_completion(url, json=sample_request("messages"), api_key=self.api_key, format=format) as stream:
                    self.assertTrue("".join(stream))
                headers = self.gateway.requests[-1].headers
                self.assertEqual(headers.get("x-api-key"), self.api_key)
                self.assertEqual(headers.get("anthropic-version"), "2023-06-01")
                self.assertIsNone(headers.get("Authorization"))
        url = self.gateway.url("messages")
        with stream_completion(url, json=sample_request("messages"), api_key=self.api_key,
                               headers={"anthropic-version": "2024-01-01"}) as stream:  # fmt: skip
            list(stream)
        self.assertEqual(self.gateway.requests[-1].headers["anthropic-version"], "2024-01-01", "the caller's version wins")
        with stream_completion(self.gateway.url("chat_completions"), json=sample_request("chat_completions"),
                               api_key=self.api_key) as stream:  # fmt: skip
            list(stream)
        headers = self.gateway.requests[-1].headers
        self.assertEqual((headers.get("Authorization"), headers.get("x-api-key")), ("Bearer " + self.api_key, None))


    def test_gemini_reads_x_goog_api_key_and_refuses_others_with_googles_401(self) -> None:
        refused = self.post("gemini", sample_request("gemini"), headers={"Authorization": "Bearer " + self.api_key})
        self.assertEqual(refused.status_code, 401, "Gemini's API reads x-goog-api-key only")
        error = refused.json()["error"]
        self.assertEqual((set(error), error["code"], error["status"]), ({"code", "message", "status"}, 401, "UNAUTHENTICATED"))
        self.assertEqual(self.post("gemini", sample_request("gemini"), headers={"x-goog-api-key": self.api_key}).status_code, 200)
        for format in ("gemini", "auto"):  # under auto, the :streamGenerateContent path names the format
            with self.subTest(format=format):
                with stream_completion(self.gateway.url("gemini"), json=sample_request("gemini"), api_key=self.api_key, format=format) as stream:
                    self.assertEqual("".join(stream), DEFAULT_ANSWER)
                request = self.gateway.requests[-1]
                self.assertEqual((request.headers.get("x-goog-api-key"), request.headers.get("Authorization")), (self.api_key, None))
                self.assertEqual(request.query, "alt=sse", "the key never goes in the URL")


class GeminiPaths(GatewayTestCase):
    def test_any_model_in_the_path_streamed_or_whole(self) -> None:
        body = sample_request("gemini")
        completion = accumulate(self.events(self.post("gemini", body, model="gemini-2.5-pro")))
        self.assertEqual((completion.format, completion.model, completion.text), ("gemini", "gemini-2.5-pro", DEFAULT_ANSWER))
        whole = self.post("gemini", body, model="gemini-2.0-flash-001", stream=False)
        self.assertEqual(whole.headers["Content-Type"], "application/json")
        self.assertEqual(completion_from_result(whole.json()).model, "gemini-2.0-flash-001")
        self.assertEqual(self.gateway.requests[-1].params, {"model": "gemini-2.0-flash-001"})
        self.assertTrue(self.gateway.url("gemini", model="m").endswith("/v1beta/models/m:streamGenerateContent?alt=sse"))
        self.assertTrue(self.gateway.url("gemini", stream=False).endswith("/v1beta/models/%s:generateContent" % DEFAULT_MODEL))

    def test_a_path_with_a_slash_where_the_model_goes_is_not_found(self) -> None:
        url = self.gateway.server.url("/v1beta/models/a/b:streamGenerateContent")
        self.assertEqual(self.session.post(url, json=sample_request("gemini"), timeout=5).status_code, 404)

    def test_a_bad_request_gets_googles_error_shape(self) -> None:
        response = self.post("gemini", {"contents": []})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["error"]["status"], "INVALID_ARGUMENT")
        capped = dict(sample_request("gemini"), generationConfig={"maxOutputTokens": 0})
        self.assertIn("generationConfig.maxOutputTokens", self.post("gemini", capped).json()["error"]["message"])


class Faults(GatewayTestCase):
    def test_fail_next_then_success(self) -> None:
        self.gateway.fail_next(429, times=2, retry_after=3)
        statuses = []
        for _ in range(3):
            response = self.post("chat_completions", sample_request("chat_completions"))
            statuses.append(response.status_code)
            if response.status_code == 429:
                self.assertEqual(response.headers["Retry-After"], "3")
                self.assertEqual(response.json()["error"]["type"], "rate_limit_error")
        self.assertEqual(statuses, [429, 429, 200])

    def test_a_refused_request_does_not_use_up_a_queued_fault(self) -> None:
        self.gateway.fail_next(503)
        self.assertEqual(self.post("chat_completions", {"model": "m"}).status_code, 400)
        self.assertEqual(self.post("chat_completions", sample_request("chat_completions")).status_code, 503)
        self.assertEqual(self.post("chat_completions", sample_request("chat_completions")).status_code, 200)

    def test_stream_completion_retries_through_queued_errors(self) -> None:
        self.gateway.fail_next(503, times=1, retry_after=0)
        with ssekit.stream_completion(self.gateway.url("responses"), json=sample_request("responses"), retry=2, timeout=5) as stream:
            text = "".join(stream)
        self.assertEqual(text, DEFAULT_ANSWER)
        self.assertEqual(len(self.gateway.requests), 2)

    def test_cut_next_drops_the_connection_after_n_tokens(self) -> None:
        for format in FORMATS:
            with self.subTest(format=format):
                self.gateway.cut_next(after_tokens=4)
                with self.assertRaises(IncompleteStreamError) as caught:
                    with ssekit.stream_completion(self.gateway.url(format), json=sample_request(format), retry=0, timeout=5) as stream:
                        for _ in stream:
                            pass
                self.assertEqual(caught.exception.partial.text, "".join(split_tokens(DEFAULT_ANSWER)[:4]))

    def test_stall_next_sends_n_tokens_then_nothing(self) -> None:
        self.gateway.stall_next(after_tokens=3)
        with self.assertRaises(StreamTimeoutError) as caught:
            with ssekit.stream_completion(self.gateway.url("messages"), json=sample_request("messages"), timeout=(5, 0.3)) as stream:
                for _ in stream:
                    pass
        self.assertEqual(caught.exception.partial.text, "".join(split_tokens(DEFAULT_ANSWER)[:3]))
        # the fault was used once: the next stream is whole
        self.assertEqual(accumulate(self.events(self.post("messages", sample_request("messages")))).text, DEFAULT_ANSWER)

    def test_stall_before_the_first_token_still_sends_the_stream_head(self) -> None:
        self.gateway.stall_next(after_tokens=0)
        response = self.session.post(self.gateway.url("chat_completions"), json=sample_request("chat_completions"), stream=True, timeout=(5, 0.3))
        self.addCleanup(response.close)
        events = []  # type: List[ServerSentEvent]
        with self.assertRaises(requests.exceptions.ConnectionError):
            for sse in iter_sse(response.iter_content(chunk_size=None)):
                events.append(sse)
        self.assertEqual(len(events), 1)
        self.assertEqual(json.loads(events[0].data)["choices"][0]["delta"]["role"], "assistant")


class Feed(GatewayTestCase):
    def test_feed_resumes_from_last_event_id_and_ends_with_204(self) -> None:
        ids = []
        last = None  # type: Optional[str]
        for _ in range(10):
            headers = {"Last-Event-ID": last} if last else {}
            response = self.session.get(self.gateway.feed_url, headers=headers, stream=True, timeout=5)
            if response.status_code == 204:
                break
            events = self.events(response)
            self.assertEqual([sse.retry for sse in events], [100] + [None] * (len(events) - 1))
            ids += [sse.id for sse in events]
            self.assertEqual({sse.event for sse in events}, {"progress"})
            last = events[-1].id
        self.assertEqual(ids, ["1", "2", "3", "4", "5", "6"])
        self.assertEqual(json.loads(self.events_of_step(6).data)["status"], "done")

    def events_of_step(self, step: int) -> ServerSentEvent:
        response = self.session.get(self.gateway.feed_url, headers={"Last-Event-ID": str(step - 1)}, stream=True, timeout=5)
        return self.events(response)[0]

    def test_follow_sse_reads_the_whole_feed_across_reconnections(self) -> None:
        steps = [json.loads(sse.data)["step"] for sse in ssekit.follow_sse(self.session, self.gateway.feed_url, timeout=5)]
        self.assertEqual(steps, [1, 2, 3, 4, 5, 6])
        self.assertEqual(len(self.gateway.requests), 4)  # three batches of two, then the 204
        self.assertEqual(self.log[0], "GET /v1/events -> 200 feed from step 1")
        self.assertEqual(self.log[-1], "GET /v1/events -> 204 feed finished")


class Misc(unittest.TestCase):
    def test_sample_request_shapes(self) -> None:
        self.assertEqual(sample_request("responses", stream=False), {"model": DEFAULT_MODEL, "input": DEFAULT_PROMPT, "stream": False})
        self.assertEqual(sample_request("messages")["max_tokens"], 1024)
        with self.assertRaises(ssekit.SSEKitError):
            sample_request("nope")

    def test_unknown_format_url(self) -> None:
        with LocalGateway() as gateway:
            self.assertTrue(gateway.base_url.endswith("/v1"))
            self.assertEqual(gateway.url("messages"), gateway.base_url + "/messages")
            with self.assertRaises(ssekit.SSEKitError):
                gateway.url("nope")


if __name__ == "__main__":
    unittest.main()
