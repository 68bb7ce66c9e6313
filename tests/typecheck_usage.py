# pyright: strict
"""A user's script touching every public name of ssekit, for ``mypy --strict`` and ``pyright --strict``.

tests/test_typing.py type-checks it (when the checkers are installed) and runs
it against ssekit's own local gateway, so it must stay both well-typed and true.
"""
import contextlib
import os
import tempfile
import threading
from typing import Any, Dict, List, Optional, Tuple

import requests

import ssekit
from ssekit.testing import (Cassette, CassetteChunk, CassetteError, CassetteServer, LocalGateway, ScriptedResponse, SSEServer,
                            build_events, build_result, chunkings, cuts, rechunkings, replay)


def decode() -> List[ssekit.ServerSentEvent]:
    decoder = ssekit.SSEDecoder()
    events = decoder.feed(b"event: ping\ndata: {}\n\n") + decoder.close()
    events += list(ssekit.iter_sse([b"data: 1\n\n"]))
    events += list(ssekit.iter_sse_lines(["data: 2", ""]))
    first: ssekit.ServerSentEvent = events[0]
    name: str = first.event
    data: str = first.data
    last_id: Optional[str] = first.id
    retry: Optional[int] = first.retry
    assert (name, data, last_id, retry) == ("ping", "{}", None, None)
    assert first.json() == {}
    return events


def accumulate_every_format() -> Dict[str, ssekit.Completion]:
    results: Dict[str, ssekit.Completion] = {}
    accumulators = [ssekit.ChatCompletionsAccumulator(), ssekit.ResponsesAccumulator(),
                    ssekit.MessagesAccumulator(), ssekit.GenerationAccumulator()]  # fmt: skip
    for accumulator in accumulators:
        for event in ssekit.iter_sse(build_events(accumulator.format, "Hi.")):
            delta: str = accumulator.add(event)
            assert isinstance(delta, str)
        completion = accumulator.finish()
        results[accumulator.format] = completion
    completion = ssekit.accumulate(ssekit.iter_sse(build_events("messages", "Hi.")), format="messages")
    text: str = completion.text
    calls: List[ssekit.ToolCall] = completion.tool_calls
    usage: ssekit.Usage = completion.usage
    total: Optional[int] = usage.total_tokens
    cached: Optional[int] = usage.cache_read_input_tokens
    reason: Optional[str] = completion.finish_reason
    assert (text, calls, total is not None, cached, reason) == ("Hi.", [], True, None, "stop")
    assert completion.to_dict()["usage"]["output_tokens"] == usage.output_tokens
    turn = completion.to_messages()
    follow_up = turn + ssekit.tool_results("messages", [])
    assert follow_up == [{"role": "assistant", "content": [{"type": "text", "text": "Hi."}]}]
    assert ssekit.Completion is type(completion)
    return results


def stream(gateway: LocalGateway) -> ssekit.Completion:
    cancel = threading.Event()
    with ssekit.stream_completion(gateway.url("chat_completions"), json={"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": True},
                                  timeout=(5, 30), deadline=60, retry=2, cancel=cancel) as answer:  # fmt: skip
        pieces = [text for text in answer]
        assert not answer.cancelled
    assert "".join(pieces) == answer.completion.text
    try:
        with ssekit.stream_completion(gateway.url("messages"), json={}, retry=0, format="messages") as refused:
            list(refused.events())
    except ssekit.APIStatusError as error:
        status: int = error.status_code
        assert status == 400 and isinstance(error, ssekit.BadRequestError)
    except (ssekit.StreamError, ssekit.IncompleteStreamError, ssekit.StreamTimeoutError) as error:
        partial: Optional[ssekit.Completion] = error.partial
        raise AssertionError(partial)
    return answer.completion


def resume(gateway: LocalGateway) -> int:
    body = {"model": "m", "input": "Hi", "stream": True, "background": True}
    gateway.cut_next(after_tokens=3)
    with ssekit.stream_completion(gateway.url("responses"), json=body, resume=True) as answer:
        text = "".join(answer)
    assert text == gateway.answer
    policy = ssekit.Resume(url=lambda completion: gateway.server.url("/v1/streams/%s" % completion.id), max_resumes=3)
    with ssekit.stream_completion(gateway.url("responses"), json=body, resume=policy) as again:
        list(again)
    try:
        raise ssekit.StreamGapError("lost", expected=3, received=5)
    except ssekit.StreamGapError as error:
        assert (error.expected, error.received) == (3, 5)
    resumed: int = answer.completion.resumed
    return resumed


def follow(gateway: LocalGateway) -> List[str]:
    with requests.Session() as session:
        events = list(ssekit.follow_sse(session, gateway.feed_url, max_reconnects=10, timeout=(5, 30)))
        with ssekit.connect_sse(session, "GET", gateway.feed_url, timeout=(5, 30)) as source:
            first = next(iter(source.iter_sse()))
    for attempt in ssekit.attempts(1, deadline=10):
        with attempt:
            attempt.commit()
    return [event.data for event in events] + [first.data]


def relay(gateway: LocalGateway) -> str:
    upstream = ssekit.stream_completion(gateway.url("messages"), json={"model": "m", "max_tokens": 50, "stream": True,
                                        "messages": [{"role": "user", "content": "Hi"}]}, format="messages")  # fmt: skip
    relayed: ssekit.Relay = ssekit.relay(upstream, heartbeat=5.0, convert="generation")
    status: str = relayed.status
    headers: List[Tuple[str, str]] = relayed.headers
    try:
        body = b"".join(relayed)
    finally:
        relayed.close()
    assert status == "200 OK" and ("Cache-Control", "no-cache") in headers
    events = list(ssekit.iter_sse([body]))
    assert events[-1].data == "[DONE]"
    passed = ssekit.relay([ssekit.ServerSentEvent(data="x")], heartbeat=None)
    with contextlib.closing(passed):
        assert b"".join(passed) == b"data: x\n\n"
    return ssekit.accumulate(events, format="generation").text


def testing_kit() -> None:
    server = SSEServer().start()
    try:
        server.script("/v1", ScriptedResponse.sse(build_events("generation", "Hi.")))
        assert ssekit.accumulate(ssekit.iter_sse(requests.post(server.url("/v1"), json={}).iter_content(None))).text == "Hi."
    finally:
        server.close()
    assert build_result("generation", "Hi.")["text"] == "Hi."
    assert all(b"".join(chunks) for chunks in chunkings(b"data: x\n\n", count=1))


def cassettes(gateway: LocalGateway) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "chat.jsonl")
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
        with ssekit.stream_completion(gateway.url("chat_completions"), json=body, api_key="sk-x-123456789", record=path) as live:
            text = "".join(live)
        cassette: Cassette = Cassette.load(path)
        first: CassetteChunk = cassette.chunks[0]
        assert first.t >= 0 and cassette.body.startswith(first.data) and cassette.end == "eof"
        for label, variant in rechunkings(cassette, seed=1, count=1):
            assert isinstance(label, str)
            with replay(variant, match=["model", "messages"]) as server:
                with ssekit.stream_completion(server.url, json=body) as replayed:
                    assert "".join(replayed) == text
        for offset, cut in cuts(path, [10]):
            with CassetteServer(cut, time_scale=0.0) as server:
                try:
                    list(ssekit.stream_completion(server.url, json=body, retry=0))
                except ssekit.IncompleteStreamError as exc:
                    assert offset == 10 and exc.partial is not None
    try:
        Cassette.loads("{}")
    except CassetteError as exc:
        assert isinstance(exc, ValueError)


def loop(gateway: LocalGateway) -> None:
    def get_weather(city: str) -> str:
        return "sunny in " + city

    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "Weather?"}], "tools": tools}
    rounds: ssekit.ToolLoop = ssekit.tool_loop(gateway.url("chat_completions"), json=body, tools={"get_weather": get_weather}, max_rounds=3)
    text = "".join(rounds)
    history: List[Any] = rounds.history
    final: Optional[ssekit.Completion] = rounds.completion
    assert text and history and final is not None and rounds.rounds == 2
    try:
        list(ssekit.tool_loop(gateway.url("chat_completions"), json=body, tools={}, max_rounds=1))
    except ssekit.ToolRoundsExceededError as exc:
        assert exc.partial is not None and exc.rounds == 1


def updates(gateway: LocalGateway) -> None:
    """Typed progress narrows by ``kind``: each record's own fields, with no cast."""
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    shown: List[str] = []
    with ssekit.stream_completion(gateway.url("chat_completions"), json=body) as answer:
        for update in answer.updates():
            if update.kind == "text":
                shown.append(update.text)
            elif update.kind == "tool_call_delta":
                shown.append("%s(%r" % (update.name, update.arguments))
            elif update.kind == "tool_call_done":
                shown.append(update.tool_call.arguments)
            elif update.kind == "finish":
                reason: Optional[str] = update.finish_reason
                shown.append(reason or "")
    records: List[ssekit.Update] = list(ssekit.iter_updates(["[DONE]"], "chat_completions"))
    assert shown and not records


def main() -> None:
    decode()
    accumulate_every_format()
    testing_kit()
    with LocalGateway() as gateway:
        stream(gateway)
        assert resume(gateway) == 1
        follow(gateway)
        loop(gateway)
        cassettes(gateway)
        updates(gateway)
        text = relay(gateway)
        assert text and gateway.answer.startswith(text)
    error: ssekit.SSEKitError = ssekit.RateLimitError("slow down", status_code=429)
    assert isinstance(error, ssekit.APIStatusError)
    print("ok")


if __name__ == "__main__":
    main()
