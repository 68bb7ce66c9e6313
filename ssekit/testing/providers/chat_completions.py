"""OpenAI Chat Completions as ssekit.testing speaks it: streams, results, requests and errors."""
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from .base import (
    CREATED,
    Answered,
    Counts,
    ErrorLike,
    ToolCallSpec,
    UsageLike,
    calls,
    counts,
    error_object,
    error_type,
    fragments,
    pieces,
    sse_event,
    text_of,
    tool_messages_answered,
)

#: The endpoint path.
PATH = "/v1/chat/completions"
#: How the gateway's ids begin (a counter follows).
ID_PREFIX = "chatcmpl-local"
#: Where a request puts the cap on output tokens.
MAX_TOKENS_KEYS = ("max_completion_tokens", "max_tokens")
#: Where a request puts the conversation (one is required), and its system prompt (None: in the messages).
PROMPT_KEYS = ("messages",)
SYSTEM_KEY = None  # type: Optional[str]
_MODEL = "gpt-4o-mini-2024-07-18"
_ID = "chatcmpl-AbCdEf0123456789"


def _usage(usage: Counts) -> Dict[str, Any]:
    return usage.native("prompt_tokens", "completion_tokens", total_tokens=usage.total_tokens)


def _finish(finish_reason: Optional[str], made: List[Dict[str, str]]) -> str:
    return finish_reason or ("tool_calls" if made else "stop")


def _interleaved(made: List[Dict[str, str]]) -> Iterator[Tuple[int, Optional[str]]]:
    """(index, fragment) of parallel calls, round-robin; the fragment is None for a call's opening delta."""
    queues = [[None] + fragments(call["arguments"]) for call in made]  # type: List[List[Any]]
    for step in range(max([len(queue) for queue in queues] or [0])):
        for index, queue in enumerate(queues):
            if step < len(queue):
                yield index, queue[step]


def events(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    reasoning: Optional[str] = None,
    reasoning_field: str = "reasoning_content",
    refusal: Optional[str] = None,
    error: ErrorLike = None,
    model: str = _MODEL,
    id: str = _ID,
    include_done: bool = True,
) -> List[bytes]:
    """An OpenAI ``chat.completion.chunk`` stream.

    Role chunk, reasoning pieces (DeepSeek's ``reasoning_content``, or
    OpenRouter's ``reasoning`` via *reasoning_field*), content or refusal
    pieces, tool calls (id and name once, arguments in fragments, parallel
    calls interleaved by index), the finish chunk, the ``choices: []`` usage
    chunk when *usage* is given (and ``"usage": null`` in every other chunk,
    as ``stream_options.include_usage`` does), then ``[DONE]``. With *error*,
    an ``{"error": {...}}`` object replaces the end.
    """
    made = calls(tool_calls, "call_")
    head = {"id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model}
    head["system_fingerprint"] = "fp_0123456789"

    def chunk(delta: Dict[str, Any], finish: Optional[str] = None) -> bytes:
        body = dict(head, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])
        if usage is not None:
            body["usage"] = None
        return sse_event(body)

    stream = [chunk({"role": "assistant", "content": "", "refusal": None})]
    stream += [chunk({"content": None, reasoning_field: piece}) for piece in pieces(reasoning)]
    stream += [chunk({"content": piece}) for piece in pieces(text, tokens)]
    stream += [chunk({"content": None, "refusal": piece}) for piece in pieces(refusal)]
    for index, fragment in _interleaved(made):
        if fragment is None:
            opening = {"name": made[index]["name"], "arguments": ""}
            delta = {"index": index, "id": made[index]["id"], "type": "function", "function": opening}
        else:
            delta = {"index": index, "function": {"arguments": fragment}}
        stream.append(chunk({"tool_calls": [delta]}))
    if error is not None:
        return stream + [sse_event({"error": error_object(error, "server_error")})]
    stream.append(chunk({}, _finish(finish_reason, made)))
    if usage is not None:
        stream.append(sse_event(dict(head, choices=[], usage=_usage(counts(usage, 0)))))
    if include_done:
        stream.append(sse_event("[DONE]"))
    return stream


def result(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    reasoning: Optional[str] = None,
    refusal: Optional[str] = None,
    model: Optional[str] = None,
    id: Optional[str] = None,
) -> Dict[str, Any]:
    """A ``chat.completion`` object, as the API answers ``stream: false``."""
    sent = pieces(text, tokens)
    made = calls(tool_calls, "call_")
    message = {"role": "assistant", "content": "".join(sent) or None, "refusal": refusal}  # type: Dict[str, Any]
    if reasoning:
        message["reasoning_content"] = reasoning
    if made:
        message["tool_calls"] = [
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
            for call in made
        ]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(finish_reason, made)}
    return {
        "id": id or _ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": model or _MODEL,
        "choices": [choice],
        "usage": _usage(counts(usage, len(sent))),
        "system_fingerprint": "fp_0123456789",
    }


def sample_request(model: str, prompt: str, stream: bool) -> Dict[str, Any]:
    """A minimal, realistic request body."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}  # type: Dict[str, Any]
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def tools(body: Mapping[str, Any]) -> List[Tuple[Any, Any]]:
    """(name, JSON schema) of each tool a request offers, in order (none with ``tool_choice: none``)."""
    offered = body.get("tools")
    if not isinstance(offered, list) or body.get("tool_choice") == "none":
        return []
    functions = [tool.get("function") if isinstance(tool, dict) else None for tool in offered]
    return [(function.get("name"), function.get("parameters")) if isinstance(function, dict) else (None, None) for function in functions]


def wants_usage(body: Mapping[str, Any]) -> bool:
    """Whether a streamed answer ends with usage (only with ``stream_options.include_usage``)."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def error_body(status: int, message: str) -> Dict[str, Any]:
    """The error object OpenAI answers an HTTP error with."""
    return {"error": {"message": message, "type": error_type(status), "code": status}}


def follow_up(body: Mapping[str, Any], thinking: bool) -> List[Answered]:
    """The tool results the request's ``messages`` send back; :class:`~.base.Refusal` for what OpenAI refuses,
    and, acting as a *thinking* model (DeepSeek's thinking mode), a tool-call turn without ``reasoning_content``."""
    return tool_messages_answered(body.get("messages"), reasoning_key="reasoning_content" if thinking else None, content_of=text_of)


def thinking(reasoning: str, tool_calls: Sequence[ToolCallSpec]) -> Dict[str, Any]:
    """The builder options of a thinking model's tool-call turn: its ``reasoning_content``."""
    return {"reasoning": reasoning}
