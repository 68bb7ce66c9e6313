"""Cohere v2 chat as ssekit.testing speaks it: streams, results, requests and errors."""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .base import (
    Answered,
    Counts,
    ErrorLike,
    ToolCallSpec,
    UsageLike,
    calls,
    counts,
    fragments,
    output_of,
    pieces,
    sse_event,
    text_of,
    tool_messages_answered,
)

PATH = "/v2/chat"
ID_PREFIX = "cohere_local"
MAX_TOKENS_KEYS = ("max_tokens",)
PROMPT_KEYS = ("messages",)
SYSTEM_KEY = None  # type: Optional[str]  # (a system message is one of the messages)
_ID = "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
# Normalised finish reasons in Cohere's vocabulary.
_FINISH_REASONS = {"stop": "COMPLETE", "length": "MAX_TOKENS", "tool_calls": "TOOL_CALL"}


def _usage(usage: Counts) -> Dict[str, Any]:
    """Cohere's usage: what is billed and what the model read and wrote (here the same counts)."""
    tokens = usage.native("input_tokens", "output_tokens")
    billed = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    return {"billed_units": billed, "tokens": tokens}


def _finish(finish_reason: Optional[str], made: List[Dict[str, str]]) -> str:
    reason = finish_reason or ("tool_calls" if made else "stop")
    return _FINISH_REASONS.get(reason, reason)


def _plan(tool_plan: Optional[str], made: List[Dict[str, str]]) -> str:
    """The tool plan Cohere writes before its calls (made up when not given)."""
    if tool_plan is not None or not made:
        return tool_plan or ""
    return "I will call %s." % " and ".join(call["name"] for call in made)


def _content(text: str, reasoning: Optional[str]) -> List[Dict[str, str]]:
    """The content items: thinking first, then text."""
    items = [{"type": "thinking", "thinking": reasoning}] if reasoning else []
    return items + ([{"type": "text", "text": text}] if text else [])


def _tool_call(call: Mapping[str, str], arguments: str) -> Dict[str, Any]:
    return {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": arguments}}


def events(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    reasoning: Optional[str] = None,
    tool_plan: Optional[str] = None,
    citations: Optional[Sequence[Mapping[str, Any]]] = None,
    error: ErrorLike = None,
    model: Optional[str] = None,
    id: str = _ID,
) -> List[bytes]:
    """A Cohere v2 chat stream, each event named by its type (Cohere's answers do not name the *model*).

    ``message-start`` (the id, the message's empty fields), a ``thinking``
    content item with *reasoning*, a ``text`` item (``content-start``,
    ``content-delta`` pieces, ``content-end``), one ``citation-start`` /
    ``citation-end`` pair per citation, ``tool-plan-delta`` pieces (made up
    when there are tool calls and no *tool_plan*), each call as
    ``tool-call-start`` (id, name, empty arguments), ``tool-call-delta``
    fragments and ``tool-call-end``, then ``message-end`` with the finish
    reason (``COMPLETE``, ``TOOL_CALL``...) and usage (``billed_units`` and
    ``tokens``). With *error*, ``message-end`` says ``ERROR`` and carries the message.
    """
    made = calls(tool_calls, "tool_call_")
    sent = pieces(text, tokens)
    stream = []  # type: List[bytes]

    def emit(kind: str, **fields: Any) -> None:
        stream.append(sse_event(dict(type=kind, **fields), kind))

    def message(**fields: Any) -> Dict[str, Any]:
        return {"message": fields}

    start = message(role="assistant", content=[], tool_plan="", tool_calls=[], citations=[])
    stream.append(sse_event({"id": id, "type": "message-start", "delta": start}, "message-start"))
    index = 0
    for kind, parts in (("thinking", pieces(reasoning)), ("text", sent)):
        if not parts:
            continue
        emit("content-start", index=index, delta=message(content={"type": kind, kind: ""}))
        for piece in parts:
            emit("content-delta", index=index, delta=message(content={kind: piece}))
        emit("content-end", index=index)
        index += 1
    for number, citation in enumerate(citations or ()):
        emit("citation-start", index=number, delta=message(citations=dict(citation)))
        emit("citation-end", index=number)
    for piece in pieces(_plan(tool_plan, made)):
        emit("tool-plan-delta", delta=message(tool_plan=piece))
    for number, call in enumerate(made):
        emit("tool-call-start", index=number, delta=message(tool_calls=_tool_call(call, "")))
        for fragment in fragments(call["arguments"]):
            emit("tool-call-delta", index=number, delta=message(tool_calls={"function": {"arguments": fragment}}))
        emit("tool-call-end", index=number)
    end = {"finish_reason": _finish(finish_reason, made), "usage": _usage(counts(usage, len(sent)))}  # type: Dict[str, Any]
    if error is not None:
        end.update(finish_reason="ERROR", error=error if isinstance(error, str) else str(error.get("message")))
    emit("message-end", delta=end)
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
    """A v2 chat response, as the API answers ``stream: false`` (*refusal* and *model* have no place in it)."""
    sent = pieces(text, tokens)
    made = calls(tool_calls, "tool_call_")
    message = {"role": "assistant", "content": _content("".join(sent), reasoning)}  # type: Dict[str, Any]
    if made:
        message.update(tool_plan=_plan(None, made), tool_calls=[_tool_call(call, call["arguments"]) for call in made])
    return {"id": id or _ID, "message": message, "finish_reason": _finish(finish_reason, made), "usage": _usage(counts(usage, len(sent)))}


def sample_request(model: str, prompt: str, stream: bool) -> Dict[str, Any]:
    """A minimal, realistic request body."""
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}


def tools(body: Mapping[str, Any]) -> List[Tuple[Any, Any]]:
    """(name, JSON schema) of each tool a request offers (OpenAI-shaped), in order (none with ``tool_choice: NONE``)."""
    offered, choice = body.get("tools"), body.get("tool_choice")
    if not isinstance(offered, list) or (isinstance(choice, str) and choice.upper() == "NONE"):
        return []
    functions = [tool.get("function") if isinstance(tool, dict) else None for tool in offered]
    return [(function.get("name"), function.get("parameters")) if isinstance(function, dict) else (None, None) for function in functions]


def wants_usage(body: Mapping[str, Any]) -> bool:
    """``message-end`` always carries usage."""
    return True


def error_body(status: int, message: str) -> Dict[str, Any]:
    """The error object Cohere answers an HTTP error with: an id and the message."""
    return {"id": "f1e5c5ad-0b5e-4a7e-9d4f-%012d" % status, "message": message}


def _documents(content: Any) -> str:
    """The text of a tool message's content: its documents' ``data`` (or plain text)."""
    if not isinstance(content, list):
        return text_of(content)
    datas = [item["document"].get("data") for item in content if isinstance(item, dict) and isinstance(item.get("document"), dict)]
    return " ".join(output_of(data) for data in datas) or text_of(content)


def follow_up(body: Mapping[str, Any], thinking: bool) -> List[Answered]:
    """The tool results the request's ``messages`` send back; :class:`~.base.Refusal` for what Cohere refuses."""
    return tool_messages_answered(body.get("messages"), reasoning_key=None, content_of=_documents)


def thinking(reasoning: str, tool_calls: Sequence[ToolCallSpec]) -> Dict[str, Any]:
    """The builder options of a thinking model's tool-call turn: a ``thinking`` content item."""
    return {"reasoning": reasoning}
