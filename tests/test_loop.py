"""The tool loop end to end against the local gateway, and the gateway's refusals of a tampered history.

Real local server only: every request goes over a socket to :class:`LocalGateway`.
"""
import copy
import threading
import time
import unittest
from typing import Any, Callable, Dict, List, Optional

import ssekit
from ssekit import BadRequestError, StreamTimeoutError, ToolRoundsExceededError
from ssekit.testing import LocalGateway, ScriptedResponse, SSEServer, sample_request
from ssekit.testing.builders import chat_completions_events
from ssekit.testing.providers import PROVIDERS

FORMATS = ("chat_completions", "responses", "messages", "cohere", "gemini")
WEATHER = {"type": "object", "properties": {"city": {"type": "string", "examples": ["Paris"]}}, "required": ["city"]}
NOTHING = {"type": "object", "properties": {}}


def offered(format: str, *names: str) -> List[Dict[str, Any]]:
    """The tools *names* (get_weather takes a city, the others nothing) as *format*'s request declares them."""
    schemas = [(name, WEATHER if name == "get_weather" else NOTHING) for name in names]
    if format in ("chat_completions", "cohere"):
        return [{"type": "function", "function": {"name": name, "parameters": schema}} for name, schema in schemas]
    if format == "responses":
        return [{"type": "function", "name": name, "parameters": schema} for name, schema in schemas]
    if format == "messages":
        return [{"name": name, "input_schema": schema} for name, schema in schemas]
    return [{"functionDeclarations": [{"name": name, "parameters": schema} for name, schema in schemas]}]


def request(format: str, *names: str) -> Dict[str, Any]:
    body = sample_request(format, prompt="Weather and time in Paris?")
    body["tools"] = offered(format, *names)
    return body


def get_weather(city: str) -> str:
    return "sunny in " + city


def broken_clock() -> str:
    raise RuntimeError("clock broke")


TOOLS = {"get_weather": get_weather, "get_time": broken_clock}  # type: Dict[str, Callable[..., Any]]


class Loop(unittest.TestCase):
    def run_loop(self, gateway: LocalGateway, format: str, body: Dict[str, Any], **options: Any) -> "ssekit.ToolLoop":
        loop = ssekit.tool_loop(gateway.url(format), json=body, tools=options.pop("tools", TOOLS), timeout=10, **options)
        self.texts = list(loop)
        return loop

    def test_every_format_one_and_two_rounds_parallel_or_not_thinking_or_not(self) -> None:
        for thinking in (False, True):
            for parallel, rounds in ((1, 3), (2, 2)):
                with LocalGateway(thinking=thinking, parallel_tool_calls=parallel) as gateway:
                    for format in FORMATS:
                        with self.subTest(format=format, thinking=thinking, parallel=parallel):
                            body = request(format, "get_weather", "get_time")
                            before = copy.deepcopy(body)
                            loop = self.run_loop(gateway, format, body)
                            self.assertEqual(body, before, "the caller's json is untouched")
                            self.assertEqual((loop.rounds, loop.format), (rounds, format))
                            final = "".join(self.texts)
                            self.assertEqual(loop.completion.text if loop.completion else None, final)
                            self.assertIn("sunny in Paris", final)
                            self.assertIn("RuntimeError: clock broke", final)
                            self.assertNotIn("Traceback", final)
                            self.assertEqual(loop.completion.finish_reason if loop.completion else None, "stop")
                            first = before[ssekit.formats.FORMATS[format].history_key or ""]
                            if isinstance(first, str):  # a Responses input string becomes one user message
                                first = [{"role": "user", "content": first}]
                            self.assertEqual(loop.history[: len(first)], first, "earlier history is kept as it was")
                            self.assertIs(loop.history, loop.request[ssekit.formats.FORMATS[format].history_key or ""])
                            sent = gateway.requests[-1].json()
                            self.assertEqual(sent, loop.request)

    def test_one_tool_round_and_a_string_input(self) -> None:
        with LocalGateway() as gateway:
            body = request("responses", "get_weather")
            loop = self.run_loop(gateway, "responses", body)
            self.assertEqual(loop.rounds, 2)
            self.assertEqual(loop.history[0], {"role": "user", "content": body["input"]})
            self.assertEqual([item.get("type") for item in loop.history[1:]], ["message", "function_call", "function_call_output"]
                             if loop.history[1].get("type") == "message" else ["function_call", "function_call_output"])  # fmt: skip
            self.assertEqual(body["input"], "Weather and time in Paris?")

    def test_an_unknown_tool_is_an_error_result_the_model_reads(self) -> None:
        with LocalGateway(parallel_tool_calls=2) as gateway:
            loop = self.run_loop(gateway, "messages", request("messages", "get_weather", "get_time"), tools={"get_weather": get_weather})
            results = loop.history[2]["content"]
            self.assertEqual([block.get("is_error") for block in results], [None, True])
            self.assertIn("unknown tool 'get_time'", results[1]["content"])
            self.assertIn("unknown tool 'get_time'", "".join(self.texts))

    def test_a_failing_tool_never_leaks_the_key(self) -> None:
        def leaky() -> str:
            raise ValueError("cannot use key sk-loop-secret-123456")

        with LocalGateway() as gateway:
            loop = self.run_loop(gateway, "chat_completions", request("chat_completions", "get_time"), tools={"get_time": leaky},
                                 api_key="sk-loop-secret-123456")  # fmt: skip
            self.assertEqual(loop.history[2]["content"], "Error: ValueError: cannot use key [redacted]")

    def test_past_max_rounds_a_clear_error_with_the_last_answer(self) -> None:
        with LocalGateway() as gateway:
            body = request("gemini", "get_weather", "get_time")
            with self.assertRaises(ToolRoundsExceededError) as caught:
                self.run_loop(gateway, "gemini", body, max_rounds=2)
            self.assertEqual(caught.exception.rounds, 2)
            partial = caught.exception.partial
            self.assertEqual([call.name for call in partial.tool_calls] if partial else None, ["get_time"])
            self.assertEqual(len(gateway.requests), 2)
            self.assertIsInstance(caught.exception, ssekit.SSEKitError)

    def test_cancel_from_another_thread_during_a_round(self) -> None:
        with LocalGateway(pace=0.05) as gateway:
            loop = ssekit.tool_loop(gateway.url("cohere"), json=request("cohere", "get_weather"), tools=TOOLS, timeout=10)

            def tool(city: str) -> str:
                threading.Timer(0.3, loop.cancel).start()  # while the answer after this tool streams
                return get_weather(city)

            loop.tools["get_weather"] = tool
            started = time.monotonic()
            text = "".join(loop)
            self.assertLess(time.monotonic() - started, 1.5)
            self.assertTrue(loop.cancelled)
            self.assertEqual(loop.rounds, 2)
            self.assertTrue(text and "The tools said: get_weather returned sunny in Paris.".startswith(text), text)
            self.assertFalse(loop.completion.complete if loop.completion else True)

    def test_a_cancel_event_set_before_start_sends_nothing_more(self) -> None:
        with LocalGateway() as gateway:
            event = threading.Event()
            event.set()
            loop = ssekit.tool_loop(gateway.url("chat_completions"), json=request("chat_completions", "get_weather"), tools=TOOLS, cancel=event)
            self.assertEqual(list(loop), [])
            self.assertTrue(loop.cancelled)
            self.assertEqual(loop.rounds, 0)

    def test_the_deadline_is_for_the_whole_loop(self) -> None:
        with LocalGateway(pace=0.02) as gateway:

            def slow(city: str) -> str:
                time.sleep(0.4)
                return get_weather(city)

            started = time.monotonic()
            with self.assertRaises(StreamTimeoutError) as caught:
                self.run_loop(gateway, "chat_completions", request("chat_completions", "get_weather"), tools={"get_weather": slow}, deadline=0.3)
            self.assertLess(time.monotonic() - started, 1.0)
            self.assertIn("deadline", str(caught.exception))
            self.assertEqual(len(gateway.requests), 1, "no request after the deadline passed")

    def test_bad_arguments_are_refused_before_anything_is_sent(self) -> None:
        for options in ({"max_rounds": 0}, {"deadline": -1}, {"json": ["not", "an", "object"]}, {"format": "generation"}):
            with self.subTest(options=options):
                kwargs = dict(json={"messages": []}, tools=TOOLS)  # type: Dict[str, Any]
                kwargs.update(options)
                with self.assertRaises(ssekit.SSEKitError):
                    ssekit.tool_loop("http://127.0.0.1:9/v1/chat/completions", **kwargs)

    def test_iterated_once(self) -> None:
        with LocalGateway() as gateway:
            loop = self.run_loop(gateway, "chat_completions", sample_request("chat_completions"))
            self.assertEqual(loop.rounds, 1)
            with self.assertRaises(ssekit.SSEKitError):
                list(loop)


class BadArguments(unittest.TestCase):
    """Arguments the model got wrong become ``is_error`` results the model reads; the loop goes on."""

    def test_arguments_that_are_not_json_or_not_an_object(self) -> None:
        for arguments, expected in (('{"city": "Par', "ToolCallArgumentsError"), ('["Paris"]', "must be a JSON object, not list")):
            with self.subTest(arguments=arguments), SSEServer() as server:
                asked = chat_completions_events(tool_calls=[{"id": "call_1", "name": "get_weather", "arguments": arguments}])
                server.script("/v1/chat/completions", ScriptedResponse.sse(asked), ScriptedResponse.sse(chat_completions_events("Sorry.")))
                loop = ssekit.tool_loop(server.url("/v1/chat/completions"), json=request("chat_completions", "get_weather"),
                                        tools={"get_weather": get_weather}, timeout=10)  # fmt: skip
                self.assertEqual("".join(loop), "Sorry.")
                result = loop.history[2]
                self.assertEqual((result["role"], result["tool_call_id"]), ("tool", "call_1"))
                self.assertIn(expected, result["content"])
                self.assertTrue(result["content"].startswith("Error"))
                self.assertEqual(loop.rounds, 2)
                self.assertEqual(server.requests[1].json()["messages"][-1], result)


class Refusals(unittest.TestCase):
    """A hand-tampered follow-up request gets the provider's 400, in its error shape."""

    def setUp(self) -> None:
        self.gateway = LocalGateway(thinking=True, parallel_tool_calls=2).start()
        self.addCleanup(self.gateway.close)

    def first_turn(self, format: str) -> Dict[str, Any]:
        """The request after one tool round: the first answer's turn and both results appended."""
        body = request(format, "get_weather", "get_time")
        with ssekit.stream_completion(self.gateway.url(format), json=body, timeout=10) as stream:
            list(stream)
        completion = stream.completion
        key = ssekit.formats.FORMATS[format].history_key or ""
        history = body[key] if isinstance(body[key], list) else [{"role": "user", "content": body[key]}]
        results = [(call, "result %d" % call.index) for call in completion.tool_calls]
        body[key] = list(history) + completion.to_messages() + ssekit.tool_results(format, results)  # type: ignore[arg-type]
        return body

    def refused(self, format: str, body: Dict[str, Any], words: str) -> None:
        with self.assertRaises(BadRequestError) as caught:
            with ssekit.stream_completion(self.gateway.url(format), json=body, timeout=10, retry=0) as stream:
                list(stream)
        error = caught.exception
        self.assertEqual(error.status_code, 400)
        self.assertEqual(set(error.body), set(PROVIDERS[format].error_body(400, "x")), "the provider's error shape")
        self.assertIn(words, str(error.body))

    def accepted(self, format: str, body: Dict[str, Any]) -> None:
        with ssekit.stream_completion(self.gateway.url(format), json=body, timeout=10, retry=0) as stream:
            self.assertIn("result 1", "".join(stream))

    def test_untampered_follow_ups_are_accepted(self) -> None:
        for format in FORMATS:
            with self.subTest(format=format):
                self.accepted(format, self.first_turn(format))

    def test_chat(self) -> None:
        body = self.first_turn("chat_completions")
        body["messages"][-1]["tool_call_id"] = "call_nobody"
        self.refused("chat_completions", body, "matches no tool call")
        body = self.first_turn("chat_completions")
        del body["messages"][-1]
        self.refused("chat_completions", body, "did not have one")
        body = self.first_turn("chat_completions")
        del body["messages"][1]["reasoning_content"]
        self.refused("chat_completions", body, "reasoning_content must be passed back")

    def test_cohere(self) -> None:
        body = self.first_turn("cohere")
        body["messages"][-2]["tool_call_id"] = "nobody"
        self.refused("cohere", body, "matches no tool call")
        body = self.first_turn("cohere")
        del body["messages"][-1]
        self.refused("cohere", body, "did not have one")

    def test_messages(self) -> None:
        body = self.first_turn("messages")
        body["messages"][-1]["content"][0]["tool_use_id"] = "toolu_nobody"
        self.refused("messages", body, "unexpected `tool_use_id`")
        body = self.first_turn("messages")
        del body["messages"][-1]["content"][1]
        self.refused("messages", body, "without `tool_result` blocks")
        body = self.first_turn("messages")
        results = body["messages"].pop()
        body["messages"] += [dict(results, content=[block]) for block in results["content"]]
        self.refused("messages", body, "without `tool_result` blocks")
        body = self.first_turn("messages")
        thinking = body["messages"][1]["content"][0]
        self.assertEqual(thinking["type"], "thinking")
        thinking["thinking"] += " (edited)"
        self.refused("messages", body, "Invalid `signature`")

    def test_responses(self) -> None:
        body = self.first_turn("responses")
        reasoning = body["input"][1]
        self.assertEqual(reasoning["type"], "reasoning")
        reasoning["encrypted_content"] = reasoning["encrypted_content"][::-1]
        self.refused("responses", body, "could not be verified")
        body = self.first_turn("responses")
        body["input"][1]["id"] = "rs_other"
        self.refused("responses", body, "could not be verified")
        body = self.first_turn("responses")
        body["input"].append(body["input"].pop(1))  # the reasoning item moved away from its function call
        self.refused("responses", body, "without its required following item")
        body = self.first_turn("responses")
        body["input"][-1]["call_id"] = "call_nobody"
        self.refused("responses", body, "No tool call found")
        body = self.first_turn("responses")
        del body["input"][-1]
        self.refused("responses", body, "No tool output found")

    def test_gemini(self) -> None:
        body = self.first_turn("gemini")
        body["contents"][-1]["parts"][0]["functionResponse"]["name"] = "get_nothing"
        self.refused("gemini", body, "matches no function call")
        body = self.first_turn("gemini")
        del body["contents"][-1]["parts"][1]
        self.refused("gemini", body, "number of function response parts")
        body = self.first_turn("gemini")
        results = body["contents"].pop()
        body["contents"] += [dict(results, parts=[part]) for part in results["parts"]]
        self.refused("gemini", body, "number of function response parts")
        body = self.first_turn("gemini")
        for part in body["contents"][1]["parts"]:
            part.pop("thoughtSignature", None)
        self.refused("gemini", body, "thought_signature")


if __name__ == "__main__":
    unittest.main()
