"""OpenAI Responses as ssekit.testing speaks it: streams, results, requests and errors."""
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ...sse import iter_sse

from .base import (
    CREATED,
    Answered,
    Counts,
    ErrorLike,
    ToolCallSpec,
    UsageLike,
    calls,
    counts,
    error_type,
    fragments,
    output_of,
    pieces,
    Refusal,
    signature,
    sse_event,
)

PATH = "/v1/responses"
#: Where a stored (``background: true``) response is fetched, or streamed again with ``?stream=true&starting_after=N``.
RETRIEVE_PATH = "/v1/responses/{id}"
#: The events a continuation may repeat before the first new one, as the API may send them.
_LIFECYCLE = ("response.created", "response.queued", "response.in_progress")
ID_PREFIX = "resp_local"
MAX_TOKENS_KEYS = ("max_output_tokens",)
PROMPT_KEYS = ("input",)
SYSTEM_KEY = "instructions"  # type: Optional[str]
_MODEL = "gpt-4o-mini-2024-07-18"
_ID = "resp_0123456789abcdef"
# Normalised finish reasons that end a response as incomplete, and the reason it then gives.
_INCOMPLETE_REASONS = {
    "length": "max_output_tokens",
    "max_output_tokens": "max_output_tokens",
    "content_filter": "content_filter",
}


def _output(
    text: str, made: List[Dict[str, str]], reasoning: Optional[str], refusal: Optional[str], sealed: bool = False
) -> List[Dict[str, Any]]:
    """The final ``output`` items: reasoning, message, function calls (in that order).

    With *sealed*, the reasoning item carries ``encrypted_content``: :func:`seal` of its id and the
    id of the item after it (what the gateway checks when the items come back).
    """
    output = []  # type: List[Dict[str, Any]]
    if reasoning:
        summary = [{"type": "summary_text", "text": reasoning}]
        output.append({"id": "rs_0123456789", "type": "reasoning", "summary": summary})
    if text or refusal:
        if refusal:
            part = {"type": "refusal", "refusal": refusal}  # type: Dict[str, Any]
        else:
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        message = {"id": "msg_0123456789", "type": "message", "status": "completed", "content": [part]}
        output.append(dict(message, role="assistant"))
    for number, call in enumerate(made):
        item = {"id": "fc_%010d" % number, "type": "function_call", "status": "completed"}
        output.append(dict(item, arguments=call["arguments"], call_id=call["id"], name=call["name"]))
    if sealed and reasoning and len(output) > 1:
        output[0]["encrypted_content"] = seal(output[0]["id"], output[1]["id"])
    return output


def seal(reasoning_id: Any, following_id: Any) -> str:
    """The ``encrypted_content`` of a reasoning item: bound to its id and to the item that follows it."""
    return signature("reasoning", reasoning_id, following_id)


def _response(
    id: Optional[str], model: Optional[str], output: List[Dict[str, Any]], usage: Optional[Counts], finish_reason: Optional[str] = None
) -> Dict[str, Any]:
    """A ``response`` object; in progress when *usage* is None, else completed or incomplete."""
    incomplete_reason = _INCOMPLETE_REASONS.get(finish_reason or "")
    if usage is None:
        status = "in_progress"
    else:
        status = "incomplete" if incomplete_reason else "completed"
    native = None
    if usage is not None:
        details = {"input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
        native = usage.native("input_tokens", "output_tokens", total_tokens=usage.total_tokens, **details)
    return {
        "id": id or _ID,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": incomplete_reason} if status == "incomplete" else None,
        "model": model or _MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "usage": native,
    }


def _opened(item: Dict[str, Any]) -> Dict[str, Any]:
    """An output item as ``response.output_item.added`` announces it: in progress and empty."""
    if item["type"] == "reasoning":
        return dict(item, summary=[])
    if item["type"] == "message":
        return dict(item, status="in_progress", content=[])
    return dict(item, status="in_progress", arguments="")


def events(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    reasoning: Optional[str] = None,
    refusal: Optional[str] = None,
    error: ErrorLike = None,
    model: str = _MODEL,
    id: str = _ID,
    encrypted_content: bool = False,
) -> List[bytes]:
    """An OpenAI Responses API stream (``event:`` names, ``sequence_number`` in every event).

    ``response.created`` / ``in_progress``, a reasoning item with summary
    deltas, a message item with ``output_text`` (or ``refusal``) deltas, one
    ``function_call`` item per tool call with argument deltas, then
    ``response.completed`` carrying the whole response and its usage, or
    ``response.incomplete`` when *finish_reason* is ``length`` /
    ``max_output_tokens`` / ``content_filter``. With *error*, an ``error``
    event replaces the end. With *encrypted_content*, the reasoning item
    carries one (see :func:`seal`), as ``include: ["reasoning.encrypted_content"]`` asks.
    """
    made = calls(tool_calls, "call_")
    sent = pieces(text, tokens)
    stream = []  # type: List[bytes]

    def emit(kind: str, **fields: Any) -> None:
        stream.append(sse_event(dict(type=kind, sequence_number=len(stream), **fields), kind))

    output = _output("".join(sent), made, reasoning, refusal, encrypted_content)
    emit("response.created", response=_response(id, model, [], None))
    emit("response.in_progress", response=_response(id, model, [], None))
    for index, item in enumerate(output):
        where = {"item_id": item["id"], "output_index": index}
        kind = item["type"]
        emit("response.output_item.added", output_index=index, item=_opened(item))
        if kind == "reasoning":
            summary = item["summary"][0]
            emit("response.reasoning_summary_part.added", summary_index=0, part=dict(summary, text=""), **where)
            for piece in pieces(reasoning):
                emit("response.reasoning_summary_text.delta", summary_index=0, delta=piece, **where)
            emit("response.reasoning_summary_text.done", summary_index=0, text=summary["text"], **where)
            emit("response.reasoning_summary_part.done", summary_index=0, part=summary, **where)
        elif kind == "message":
            part = item["content"][0]
            field = "refusal" if part["type"] == "refusal" else "text"
            emit("response.content_part.added", content_index=0, part=dict(part, **{field: ""}), **where)
            if field == "refusal":
                for piece in pieces(refusal):
                    emit("response.refusal.delta", content_index=0, delta=piece, **where)
                emit("response.refusal.done", content_index=0, refusal=part["refusal"], **where)
            else:
                for piece in sent:
                    emit("response.output_text.delta", content_index=0, delta=piece, logprobs=[], **where)
                emit("response.output_text.done", content_index=0, text=part["text"], logprobs=[], **where)
            emit("response.content_part.done", content_index=0, part=part, **where)
        else:
            for fragment in fragments(item["arguments"]):
                emit("response.function_call_arguments.delta", delta=fragment, **where)
            emit("response.function_call_arguments.done", arguments=item["arguments"], **where)
        emit("response.output_item.done", output_index=index, item=item)
    if error is not None:
        fields = {"code": "server_error", "message": error, "param": None} if isinstance(error, str) else error
        emit("error", **fields)
        return stream
    final = _response(id, model, output, counts(usage, len(sent)), finish_reason)
    emit("response.%s" % final["status"], response=final)
    return stream


def continuation(events: Sequence[bytes], starting_after: int) -> List[bytes]:
    """The stream *events* (numbered from 0) continued after ``sequence_number`` *starting_after*: the lifecycle
    events already sent come first again, as the API may send them (duplicates a client must skip), then the rest."""
    head = [event for event in events[: starting_after + 1] if next(iter_sse([event])).event in _LIFECYCLE]
    return head + list(events[starting_after + 1 :])


def final_response(events: Sequence[bytes]) -> Dict[str, Any]:
    """The response object a stream ends with (its last event's ``response``)."""
    return dict(json.loads(next(iter_sse([events[-1]])).data).get("response") or {})


def pending(final: Mapping[str, Any]) -> Dict[str, Any]:
    """*final* as ``GET /responses/{id}`` shows it while the model is still at work."""
    return dict(final, status="in_progress", output=[], usage=None, incomplete_details=None)


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
    """A ``response`` object, as the API answers ``stream: false``."""
    sent = pieces(text, tokens)
    output = _output("".join(sent), calls(tool_calls, "call_"), reasoning, refusal)
    return _response(id, model, output, counts(usage, len(sent)), finish_reason)


def sample_request(model: str, prompt: str, stream: bool) -> Dict[str, Any]:
    """A minimal, realistic request body."""
    return {"model": model, "input": prompt, "stream": stream}


def tools(body: Mapping[str, Any]) -> List[Tuple[Any, Any]]:
    """(name, JSON schema) of each tool a request offers, in order (none with ``tool_choice: none``)."""
    offered = body.get("tools")
    if not isinstance(offered, list) or body.get("tool_choice") == "none":
        return []
    return [(tool.get("name"), tool.get("parameters")) if isinstance(tool, dict) else (None, None) for tool in offered]


def wants_usage(body: Mapping[str, Any]) -> bool:
    """``response.completed`` always carries usage."""
    return True


def error_body(status: int, message: str) -> Dict[str, Any]:
    """The error object OpenAI answers an HTTP error with."""
    return {"error": {"message": message, "type": error_type(status), "code": status}}


def follow_up(body: Mapping[str, Any], thinking: bool) -> List[Answered]:
    """The tool results the request's ``input`` sends back; :class:`~.base.Refusal` for what OpenAI refuses.

    A reasoning item must be followed by the output item it came with, and
    its ``encrypted_content`` (required of a *thinking* model's) must be the
    one the gateway sealed to its id and that item's id; a
    ``function_call_output`` must answer an earlier ``function_call``, and
    every ``function_call`` needs its output.
    """
    items = body.get("input")
    items = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    calls = {}  # type: Dict[Any, str]  # call_id -> name
    unanswered = []  # type: List[Any]
    answered = []  # type: List[Answered]
    for number, item in enumerate(items):
        kind = item.get("type")
        if kind == "reasoning":
            following = items[number + 1] if number + 1 < len(items) else {}
            if following.get("type") not in ("function_call", "message") or following.get("role", "assistant") != "assistant":
                raise Refusal("Item '%s' of type 'reasoning' was provided without its required following item." % item.get("id"))
            if (thinking or "encrypted_content" in item) and item.get("encrypted_content") != seal(item.get("id"), following.get("id")):
                raise Refusal("The encrypted content for item %s could not be verified." % item.get("id"))
        elif kind == "function_call":
            calls[item.get("call_id")] = str(item.get("name"))
            unanswered.append(item.get("call_id"))
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if call_id not in calls:
                raise Refusal("No tool call found for function call output with call_id %s." % call_id)
            if call_id in unanswered:
                unanswered.remove(call_id)
            answered.append((calls[call_id], output_of(item.get("output"))))
    if unanswered:
        raise Refusal("No tool output found for function call %s." % unanswered[0])
    return answered


def thinking(reasoning: str, tool_calls: Sequence[ToolCallSpec]) -> Dict[str, Any]:
    """The builder options of a reasoning model's tool-call turn: a reasoning item with ``encrypted_content``."""
    return {"reasoning": reasoning, "encrypted_content": True}
