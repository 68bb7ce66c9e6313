"""Byte-exact LLM streams and results, as the providers send them, for tests and demos.

Each ``*_events`` function returns one ``bytes`` item per SSE event (a test
server can write them one at a time) following the vendor's published stream
format: OpenAI ``chat.completion.chunk`` streams, OpenAI Responses events,
Anthropic Messages events, and gateway ``generation`` frames.
:func:`build_result` gives the matching non-streamed answer. All builders take
the same keywords: *text* (or its pieces as *tokens*), *tool_calls* as dicts
``{"id", "name", "arguments"}`` (arguments a JSON string, streamed in
fragments; a missing id is made up), *usage* as a dict with any provider's
keys or a :class:`~ssekit.completion.Usage` (formats that always report usage
make one up when it is None: 12 input tokens, one output token a piece),
*finish_reason* in the normalised vocabulary (``stop``, ``length``,
``tool_calls``, ``content_filter``; the format's own values pass through),
*error* (a message or an error object) to end the stream with a provider
error, *model* and *id*. Output is deterministic. Standard library only.
"""
import json
import random
import re
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from ..completion import Usage
from ..errors import UnsupportedFormatError

UsageLike = Union[Usage, Mapping[str, Any], None]
ErrorLike = Union[str, Mapping[str, Any], None]
ToolCallSpec = Mapping[str, str]

_TOKEN = re.compile(r" ?\w+| ?[^\w\s]+|\s+")
_CREATED = 1735689600  # a fixed timestamp: builder output is deterministic
_DEFAULT_INPUT_TOKENS = 12
_USAGE_ALIASES = frozenset(
    ["input_tokens", "output_tokens", "total_tokens", "prompt_tokens", "completion_tokens", "tokens_used"]
)
_SIGNATURE = "EqQBCkYIBRgCIkBsig0123456789"
# Normalised finish reasons in the Anthropic and Responses vocabularies.
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_INCOMPLETE_REASONS = {
    "length": "max_output_tokens",
    "max_output_tokens": "max_output_tokens",
    "content_filter": "content_filter",
}


def split_tokens(text: str) -> List[str]:
    """Split *text* into word-ish pieces, as a tokenizer would; ``"".join`` gives *text* back."""
    return _TOKEN.findall(text)


def sse_event(payload: Any, event: Optional[str] = None) -> bytes:
    """One SSE event: an optional ``event:`` line, a ``data:`` line (compact JSON or a string), a blank line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    head = "event: %s\n" % event if event else ""
    return ("%sdata: %s\n\n" % (head, data)).encode("utf-8")


def random_chunks(data: Union[bytes, Iterable[bytes]], rng: random.Random, max_size: int = 64) -> List[bytes]:
    """Cut *data* (bytes, or a list of events to join) at random places, as a network would."""
    if not isinstance(data, bytes):
        data = b"".join(data)
    chunks = []
    position = 0
    while position < len(data):
        size = rng.randint(1, max_size)
        chunks.append(data[position : position + size])
        position += size
    return chunks


def chunkings(data: Union[bytes, Iterable[bytes]], seed: int = 0, count: int = 6) -> Iterator[List[bytes]]:
    """*data* cut in several ways: whole, one byte at a time, then *count* seeded random cuttings.

    A stream consumer must give the same result for each of them.
    """
    if not isinstance(data, bytes):
        data = b"".join(data)
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    for _ in range(count):
        yield random_chunks(data, rng, rng.choice((3, 16, 200)))


# --- shared pieces --------------------------------------------------------------


def _pieces(text: Optional[str], tokens: Optional[Sequence[str]] = None) -> List[str]:
    if tokens is not None:
        return list(tokens)
    return split_tokens(text) if text else []


def _fragments(arguments: str, size: int = 7) -> List[str]:
    """Cut a tool call's arguments into fragments the way providers stream them."""
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def _calls(tool_calls: Optional[Sequence[ToolCallSpec]], id_prefix: str) -> List[Dict[str, str]]:
    """The tool calls with an id each (made up from *id_prefix* when missing) and arguments."""
    calls = []
    for number, call in enumerate(tool_calls or []):
        call_id = call.get("id") or "%s%024d" % (id_prefix, number)
        calls.append({"id": call_id, "name": call["name"], "arguments": call.get("arguments") or ""})
    return calls


def _usage(usage: UsageLike, pieces: int) -> Usage:
    """*usage* as a Usage; when None, a plausible one (12 input tokens, one output token a piece)."""
    if isinstance(usage, Usage):
        return usage
    if usage is None:
        return Usage(_DEFAULT_INPUT_TOKENS, pieces, _DEFAULT_INPUT_TOKENS + pieces)
    return Usage.from_raw(dict(usage))


def _native_usage(usage: Usage, input_key: str, output_key: str, **extra: Any) -> Dict[str, Any]:
    """The usage in a provider's own keys, plus its other raw keys (cache counts...)."""
    native = {input_key: usage.input_tokens or 0, output_key: usage.output_tokens or 0}  # type: Dict[str, Any]
    native.update(extra)
    native.update((key, value) for key, value in usage.raw.items() if key not in _USAGE_ALIASES)
    return native


def _error_object(error: Union[str, Mapping[str, Any]], default_type: str) -> Dict[str, Any]:
    if isinstance(error, str):
        return {"type": default_type, "message": error}
    return dict(error)


# --- OpenAI Chat Completions --------------------------------------------------


def _chat_usage(usage: Usage) -> Dict[str, Any]:
    return _native_usage(usage, "prompt_tokens", "completion_tokens", total_tokens=usage.total_tokens or 0)


def _chat_finish(finish_reason: Optional[str], calls: List[Dict[str, str]]) -> str:
    return finish_reason or ("tool_calls" if calls else "stop")


def _interleaved(calls: List[Dict[str, str]]) -> Iterator[Tuple[int, Optional[str]]]:
    """(index, fragment) of parallel calls, round-robin; the fragment is None for a call's opening delta."""
    queues = [[None] + _fragments(call["arguments"]) for call in calls]  # type: List[List[Any]]
    for step in range(max([len(queue) for queue in queues] or [0])):
        for index, queue in enumerate(queues):
            if step < len(queue):
                yield index, queue[step]


def chat_completions_events(
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
    model: str = "gpt-4o-mini-2024-07-18",
    id: str = "chatcmpl-AbCdEf0123456789",
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
    calls = _calls(tool_calls, "call_")
    head = {"id": id, "object": "chat.completion.chunk", "created": _CREATED, "model": model}
    head["system_fingerprint"] = "fp_0123456789"

    def chunk(delta: Dict[str, Any], finish: Optional[str] = None) -> bytes:
        body = dict(head, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])
        if usage is not None:
            body["usage"] = None
        return sse_event(body)

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": None, reasoning_field: piece}) for piece in _pieces(reasoning)]
    events += [chunk({"content": piece}) for piece in _pieces(text, tokens)]
    events += [chunk({"content": None, "refusal": piece}) for piece in _pieces(refusal)]
    for index, fragment in _interleaved(calls):
        if fragment is None:
            opening = {"name": calls[index]["name"], "arguments": ""}
            delta = {"index": index, "id": calls[index]["id"], "type": "function", "function": opening}
        else:
            delta = {"index": index, "function": {"arguments": fragment}}
        events.append(chunk({"tool_calls": [delta]}))
    if error is not None:
        return events + [sse_event({"error": _error_object(error, "server_error")})]
    events.append(chunk({}, _chat_finish(finish_reason, calls)))
    if usage is not None:
        events.append(sse_event(dict(head, choices=[], usage=_chat_usage(_usage(usage, 0)))))
    if include_done:
        events.append(sse_event("[DONE]"))
    return events


def _chat_result(
    text: str,
    calls: List[Dict[str, str]],
    usage: Usage,
    finish_reason: Optional[str],
    reasoning: Optional[str],
    refusal: Optional[str],
    model: Optional[str],
    id: Optional[str],
) -> Dict[str, Any]:
    message = {"role": "assistant", "content": text or None, "refusal": refusal}  # type: Dict[str, Any]
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
            for call in calls
        ]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _chat_finish(finish_reason, calls)}
    return {
        "id": id or "chatcmpl-AbCdEf0123456789",
        "object": "chat.completion",
        "created": _CREATED,
        "model": model or "gpt-4o-mini-2024-07-18",
        "choices": [choice],
        "usage": _chat_usage(usage),
        "system_fingerprint": "fp_0123456789",
    }


# --- OpenAI Responses -------------------------------------------------------


def _responses_output(
    text: str, calls: List[Dict[str, str]], reasoning: Optional[str], refusal: Optional[str]
) -> List[Dict[str, Any]]:
    """The final ``output`` items: reasoning, message, function calls (in that order)."""
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
    for number, call in enumerate(calls):
        item = {"id": "fc_%010d" % number, "type": "function_call", "status": "completed"}
        output.append(dict(item, arguments=call["arguments"], call_id=call["id"], name=call["name"]))
    return output


def _response_object(
    id: Optional[str],
    model: Optional[str],
    output: List[Dict[str, Any]],
    usage: Optional[Usage],
    finish_reason: Optional[str] = None,
) -> Dict[str, Any]:
    """A Responses ``response`` object; in progress when *usage* is None, else completed or incomplete."""
    incomplete_reason = _INCOMPLETE_REASONS.get(finish_reason or "")
    if usage is None:
        status = "in_progress"
    else:
        status = "incomplete" if incomplete_reason else "completed"
    native = None
    if usage is not None:
        details = {"input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
        native = _native_usage(usage, "input_tokens", "output_tokens", total_tokens=usage.total_tokens or 0, **details)
    return {
        "id": id or "resp_0123456789abcdef",
        "object": "response",
        "created_at": _CREATED,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": incomplete_reason} if status == "incomplete" else None,
        "model": model or "gpt-4o-mini-2024-07-18",
        "output": output,
        "parallel_tool_calls": True,
        "usage": native,
    }


def responses_events(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    reasoning: Optional[str] = None,
    refusal: Optional[str] = None,
    error: ErrorLike = None,
    model: str = "gpt-4o-mini-2024-07-18",
    id: str = "resp_0123456789abcdef",
) -> List[bytes]:
    """An OpenAI Responses API stream (``event:`` names, ``sequence_number`` in every event).

    ``response.created`` / ``in_progress``, a reasoning item with summary
    deltas, a message item with ``output_text`` (or ``refusal``) deltas, one
    ``function_call`` item per tool call with argument deltas, then
    ``response.completed`` carrying the whole response and its usage, or
    ``response.incomplete`` when *finish_reason* is ``length`` /
    ``max_output_tokens`` / ``content_filter``. With *error*, an ``error``
    event replaces the end.
    """
    calls = _calls(tool_calls, "call_")
    pieces = _pieces(text, tokens)
    events = []  # type: List[bytes]

    def emit(kind: str, **fields: Any) -> None:
        events.append(sse_event(dict(type=kind, sequence_number=len(events), **fields), kind))

    output = _responses_output("".join(pieces), calls, reasoning, refusal)
    emit("response.created", response=_response_object(id, model, [], None))
    emit("response.in_progress", response=_response_object(id, model, [], None))
    for index, item in enumerate(output):
        where = {"item_id": item["id"], "output_index": index}
        kind = item["type"]
        emit("response.output_item.added", output_index=index, item=_opened_item(item))
        if kind == "reasoning":
            summary = item["summary"][0]
            emit("response.reasoning_summary_part.added", summary_index=0, part=dict(summary, text=""), **where)
            for piece in _pieces(reasoning):
                emit("response.reasoning_summary_text.delta", summary_index=0, delta=piece, **where)
            emit("response.reasoning_summary_text.done", summary_index=0, text=summary["text"], **where)
            emit("response.reasoning_summary_part.done", summary_index=0, part=summary, **where)
        elif kind == "message":
            part = item["content"][0]
            field = "refusal" if part["type"] == "refusal" else "text"
            emit("response.content_part.added", content_index=0, part=dict(part, **{field: ""}), **where)
            if field == "refusal":
                for piece in _pieces(refusal):
                    emit("response.refusal.delta", content_index=0, delta=piece, **where)
                emit("response.refusal.done", content_index=0, refusal=part["refusal"], **where)
            else:
                for piece in pieces:
                    emit("response.output_text.delta", content_index=0, delta=piece, logprobs=[], **where)
                emit("response.output_text.done", content_index=0, text=part["text"], logprobs=[], **where)
            emit("response.content_part.done", content_index=0, part=part, **where)
        else:
            for fragment in _fragments(item["arguments"]):
                emit("response.function_call_arguments.delta", delta=fragment, **where)
            emit("response.function_call_arguments.done", arguments=item["arguments"], **where)
        emit("response.output_item.done", output_index=index, item=item)
    if error is not None:
        fields = {"code": "server_error", "message": error, "param": None} if isinstance(error, str) else error
        emit("error", **fields)
        return events
    final = _response_object(id, model, output, _usage(usage, len(pieces)), finish_reason)
    emit("response.%s" % final["status"], response=final)
    return events


def _opened_item(item: Dict[str, Any]) -> Dict[str, Any]:
    """An output item as ``response.output_item.added`` announces it: in progress and empty."""
    if item["type"] == "reasoning":
        return dict(item, summary=[])
    if item["type"] == "message":
        return dict(item, status="in_progress", content=[])
    return dict(item, status="in_progress", arguments="")


# --- Anthropic Messages -------------------------------------------------------


def _messages_usage(usage: Usage, output_tokens: Optional[int] = None) -> Dict[str, Any]:
    native = _native_usage(usage, "input_tokens", "output_tokens")
    if output_tokens is not None:
        native["output_tokens"] = output_tokens
    return native


def _stop_reason(finish_reason: Optional[str], calls: List[Dict[str, str]]) -> str:
    reason = finish_reason or ("tool_calls" if calls else "stop")
    return _STOP_REASONS.get(reason, reason)


def _message_blocks(
    text: str, calls: List[Dict[str, str]], reasoning: Optional[str], signature: str
) -> List[Dict[str, Any]]:
    """The final ``content`` blocks: thinking, text, tool_use (in that order)."""
    blocks = []  # type: List[Dict[str, Any]]
    if reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": signature})
    if text:
        blocks.append({"type": "text", "text": text})
    for call in calls:
        tool_input = json.loads(call["arguments"]) if call["arguments"] else {}
        blocks.append({"type": "tool_use", "id": call["id"], "name": call["name"], "input": tool_input})
    return blocks


def _message_object(
    id: Optional[str], model: Optional[str], content: List[Dict[str, Any]], stop_reason: Optional[str], usage: Dict[str, Any]
) -> Dict[str, Any]:
    return {
        "id": id or "msg_01AbCdEf0123456789",
        "type": "message",
        "role": "assistant",
        "model": model or "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def messages_events(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    reasoning: Optional[str] = None,
    signature: str = _SIGNATURE,
    error: ErrorLike = None,
    model: str = "claude-sonnet-4-5-20250929",
    id: str = "msg_01AbCdEf0123456789",
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
    calls = _calls(tool_calls, "toolu_")
    pieces = _pieces(text, tokens)
    final_usage = _usage(usage, len(pieces))
    events = []  # type: List[bytes]

    def emit(kind: str, **fields: Any) -> None:
        events.append(sse_event(dict(type=kind, **fields), kind))

    emit("message_start", message=_message_object(id, model, [], None, _messages_usage(final_usage, 1)))
    pending_calls = iter(calls)
    for index, block in enumerate(_message_blocks("".join(pieces), calls, reasoning, signature)):
        kind = block["type"]
        if kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": piece} for piece in _pieces(reasoning)]
            deltas.append({"type": "signature_delta", "signature": signature})
            opened = dict(block, thinking="", signature="")
        elif kind == "text":
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
            opened = dict(block, text="")
        else:
            fragments = [""] + _fragments(next(pending_calls)["arguments"])
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in fragments]
            opened = dict(block, input={})
        emit("content_block_start", index=index, content_block=opened)
        if index == 0:
            emit("ping")
        for delta in deltas:
            emit("content_block_delta", index=index, delta=delta)
        emit("content_block_stop", index=index)
    if error is not None:
        emit("error", error=_error_object(error, "overloaded_error"))
        return events
    delta = {"stop_reason": _stop_reason(finish_reason, calls), "stop_sequence": None}
    emit("message_delta", delta=delta, usage={"output_tokens": final_usage.output_tokens or 0})
    emit("message_stop")
    return events


# --- gateway "generation" frames ----------------------------------------------


def _generation_end(usage: Usage, balance_remaining: Optional[int], finish_reason: Optional[str]) -> Dict[str, Any]:
    end = {"tokens_used": usage.total_tokens or 0}  # type: Dict[str, Any]
    if balance_remaining is not None:
        end["balance_remaining"] = balance_remaining
    if finish_reason:
        end["finish_reason"] = finish_reason
    return end


def _no_tool_calls(tool_calls: Optional[Sequence[ToolCallSpec]]) -> None:
    if tool_calls:
        raise UnsupportedFormatError("the generation format has no tool calls")


def generation_events(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    balance_remaining: Optional[int] = 9000,
    error: ErrorLike = None,
    model: str = "gateway-small-1",
    id: str = "gen_0123456789abcdef",
    include_done: bool = True,
) -> List[bytes]:
    """A gateway stream: ``generation_start``, ``content_delta`` pieces, ``generation_end``
    (``tokens_used`` = the usage's total, ``balance_remaining``, *finish_reason* if given), then ``[DONE]``.

    With *error*, ``{"type": "error", "message": ...}`` replaces ``generation_end``.
    The format has no tool calls: passing some raises :class:`UnsupportedFormatError`.
    """
    _no_tool_calls(tool_calls)
    pieces = _pieces(text, tokens)
    events = [sse_event({"type": "generation_start", "id": id, "model": model})]
    events += [sse_event({"type": "content_delta", "delta": piece}) for piece in pieces]
    if error is not None:
        events.append(sse_event(dict(_error_object(error, "error"), type="error")))
    else:
        end = _generation_end(_usage(usage, len(pieces)), balance_remaining, finish_reason)
        events.append(sse_event(dict(end, type="generation_end")))
    if include_done:
        events.append(sse_event("[DONE]"))
    return events


# --- by format name -----------------------------------------------------------

_EVENT_BUILDERS = {
    "chat_completions": chat_completions_events,
    "responses": responses_events,
    "messages": messages_events,
    "generation": generation_events,
}  # type: Dict[str, Callable[..., List[bytes]]]


def _unknown(format: str) -> UnsupportedFormatError:
    return UnsupportedFormatError("no builder for format %r; valid: %s" % (format, ", ".join(sorted(_EVENT_BUILDERS))))


def build_events(format: str, text: Optional[str] = None, **options: Any) -> List[bytes]:
    """The stream of *format* (a name of :data:`ssekit.formats.FORMATS`); *options* go to its builder."""
    builder = _EVENT_BUILDERS.get(format)
    if builder is None:
        raise _unknown(format)
    return builder(text, **options)


def build_result(
    format: str,
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
    """The non-streamed answer of *format*, as its provider returns it for ``stream: false``.

    Same keywords as the stream builders; *reasoning* and *refusal* are
    ignored where the format's result has no place for them.
    """
    pieces = _pieces(text, tokens)
    text = "".join(pieces)
    final_usage = _usage(usage, len(pieces))
    if format == "chat_completions":
        calls = _calls(tool_calls, "call_")
        return _chat_result(text, calls, final_usage, finish_reason, reasoning, refusal, model, id)
    if format == "responses":
        output = _responses_output(text, _calls(tool_calls, "call_"), reasoning, refusal)
        return _response_object(id, model, output, final_usage, finish_reason)
    if format == "messages":
        calls = _calls(tool_calls, "toolu_")
        blocks = _message_blocks(text, calls, reasoning, _SIGNATURE)
        return _message_object(id, model, blocks, _stop_reason(finish_reason, calls), _messages_usage(final_usage))
    if format == "generation":
        _no_tool_calls(tool_calls)
        result = {"object": "generation", "id": id or "gen_0123456789abcdef", "model": model or "gateway-small-1"}
        result["text"] = text
        result.update(_generation_end(final_usage, 9000, finish_reason or "stop"))
        return result
    raise _unknown(format)
