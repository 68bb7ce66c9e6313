"""Anthropic Messages as ssekit.testing speaks it: streams, results, requests and errors."""
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .base import (
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
    Refusal,
    signature,
    sse_event,
    text_of,
)

PATH = "/v1/messages"
ID_PREFIX = "msg_local"
MAX_TOKENS_KEYS = ("max_tokens",)
PROMPT_KEYS = ("messages",)
SYSTEM_KEY = "system"  # type: Optional[str]
SIGNATURE = "EqQBCkYIBRgCIkBsig0123456789"
_MODEL = "claude-sonnet-4-5-20250929"
_ID = "msg_01AbCdEf0123456789"
# Normalised finish reasons in Anthropic's vocabulary.
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def _usage(usage: Counts, output_tokens: Optional[int] = None) -> Dict[str, Any]:
    native = usage.native("input_tokens", "output_tokens")
    if output_tokens is not None:
        native["output_tokens"] = output_tokens
    return native


def _stop_reason(finish_reason: Optional[str], made: List[Dict[str, str]]) -> str:
    reason = finish_reason or ("tool_calls" if made else "stop")
    return _STOP_REASONS.get(reason, reason)


def _blocks(text: str, made: List[Dict[str, str]], reasoning: Optional[str], signature: str) -> List[Dict[str, Any]]:
    """The final ``content`` blocks: thinking, text, tool_use (in that order)."""
    blocks = []  # type: List[Dict[str, Any]]
    if reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": signature})
    if text:
        blocks.append({"type": "text", "text": text})
    for call in made:
        tool_input = json.loads(call["arguments"]) if call["arguments"] else {}
        blocks.append({"type": "tool_use", "id": call["id"], "name": call["name"], "input": tool_input})
    return blocks


def _message(
    id: Optional[str], model: Optional[str], content: List[Dict[str, Any]], stop_reason: Optional[str], usage: Dict[str, Any]
) -> Dict[str, Any]:
    return {
        "id": id or _ID,
        "type": "message",
        "role": "assistant",
        "model": model or _MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def events(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    reasoning: Optional[str] = None,
    signature: str = SIGNATURE,
    error: ErrorLike = None,
    model: str = _MODEL,
    id: str = _ID,
) -> List[bytes]:
    """An Anthropic Messages stream.

    ``message_start`` (input usage, ``output_tokens: 1``), then one block per
    part (``thinking`` with ``thinking_delta`` and ``signature_delta``,
    ``text`` with ``text_delta``, ``tool_use`` with ``input_json_delta``
    fragments), a ``ping`` after the first block start, ``message_delta``
    (the stop reason, e.g. ``end_turn`` / ``tool_use``, and the output usage)
    and ``message_stop``. With *error*, an ``error`` event
    (``overloaded_error`` for a plain message) replaces the end.
    """
    made = calls(tool_calls, "toolu_")
    sent = pieces(text, tokens)
    final_usage = counts(usage, len(sent))
    stream = []  # type: List[bytes]

    def emit(kind: str, **fields: Any) -> None:
        stream.append(sse_event(dict(type=kind, **fields), kind))

    emit("message_start", message=_message(id, model, [], None, _usage(final_usage, 1)))
    pending_calls = iter(made)
    for index, block in enumerate(_blocks("".join(sent), made, reasoning, signature)):
        kind = block["type"]
        if kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": piece} for piece in pieces(reasoning)]
            deltas.append({"type": "signature_delta", "signature": signature})
            opened = dict(block, thinking="", signature="")
        elif kind == "text":
            deltas = [{"type": "text_delta", "text": piece} for piece in sent]
            opened = dict(block, text="")
        else:
            parts = [""] + fragments(next(pending_calls)["arguments"])
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in parts]
            opened = dict(block, input={})
        emit("content_block_start", index=index, content_block=opened)
        if index == 0:
            emit("ping")
        for piece in deltas:
            emit("content_block_delta", index=index, delta=piece)
        emit("content_block_stop", index=index)
    if error is not None:
        emit("error", error=error_object(error, "overloaded_error"))
        return stream
    stop = {"stop_reason": _stop_reason(finish_reason, made), "stop_sequence": None}  # type: Dict[str, Any]
    emit("message_delta", delta=stop, usage={"output_tokens": final_usage.output_tokens})
    emit("message_stop")
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
    """A ``message`` object, as the API answers ``stream: false`` (*refusal* has no place in it)."""
    sent = pieces(text, tokens)
    made = calls(tool_calls, "toolu_")
    blocks = _blocks("".join(sent), made, reasoning, SIGNATURE)
    return _message(id, model, blocks, _stop_reason(finish_reason, made), _usage(counts(usage, len(sent))))


def sample_request(model: str, prompt: str, stream: bool) -> Dict[str, Any]:
    """A minimal, realistic request body."""
    return {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": prompt}], "stream": stream}


def tools(body: Mapping[str, Any]) -> List[Tuple[Any, Any]]:
    """(name, JSON schema) of each tool a request offers, in order (none with ``tool_choice: none``)."""
    offered = body.get("tools")
    if not isinstance(offered, list) or body.get("tool_choice") == "none":
        return []
    return [(tool.get("name"), tool.get("input_schema")) if isinstance(tool, dict) else (None, None) for tool in offered]


def wants_usage(body: Mapping[str, Any]) -> bool:
    """``message_start`` and ``message_delta`` always carry usage."""
    return True


def error_body(status: int, message: str) -> Dict[str, Any]:
    """The error object Anthropic answers an HTTP error with."""
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def follow_up(body: Mapping[str, Any], thinking: bool) -> List[Answered]:
    """The tool results the request's ``messages`` send back; :class:`~.base.Refusal` for what Anthropic refuses.

    Every ``thinking`` block must carry the signature the gateway gave it
    (:func:`~.base.signature` of its text: changed text or signature is
    refused); every ``tool_use`` of an assistant message needs its
    ``tool_result`` in the ONE user message right after it, results first; a
    ``tool_result`` must answer a ``tool_use`` of the message before.
    """
    answered = []  # type: List[Answered]
    pending = {}  # type: Dict[Any, str]  # tool_use id -> name, of the previous assistant message
    messages = [message for message in body.get("messages") or [] if isinstance(message, dict)]
    for number, message in enumerate(messages):
        content = message.get("content")
        blocks = [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []
        if message.get("role") == "assistant":
            _no_missing_results(pending, number)
            for place, block in enumerate(blocks):
                if block.get("type") == "thinking" and block.get("signature") != signature(block.get("thinking")):
                    raise Refusal("messages.%d.content.%d: Invalid `signature` in `thinking` block" % (number, place))
            pending = {block.get("id"): str(block.get("name")) for block in blocks if block.get("type") == "tool_use"}
            continue
        kinds = [block.get("type") == "tool_result" for block in blocks]
        if kinds != sorted(kinds, reverse=True):
            raise Refusal("messages.%d: tool_result blocks must come first in the user message" % number)
        for block in blocks[: kinds.count(True)]:
            if block.get("tool_use_id") not in pending:
                raise Refusal("messages.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` "
                              "block must have a corresponding `tool_use` block in the previous message."
                              % (number, block.get("tool_use_id")))  # fmt: skip
            answered.append((pending.pop(block.get("tool_use_id")), text_of(block.get("content"))))
        _no_missing_results(pending, number)
    _no_missing_results(pending, len(messages))
    return answered


def _no_missing_results(pending: Mapping[Any, str], number: int) -> None:
    if pending:
        raise Refusal("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each "
                      "`tool_use` block must have a corresponding `tool_result` block in the next message."
                      % (number, ", ".join(map(str, pending))))  # fmt: skip


def thinking(reasoning: str, tool_calls: Sequence[ToolCallSpec]) -> Dict[str, Any]:
    """The builder options of a thinking model's tool-call turn: a thinking block signed over its text."""
    return {"reasoning": reasoning, "signature": signature(reasoning)}
