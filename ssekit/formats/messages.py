"""Anthropic Messages streams (``message_start`` ... ``message_stop``).

``message_start`` brings the id, model and input usage; ``content_block_start``
/ ``content_block_delta`` / ``content_block_stop`` build the content blocks in
their order, each exactly as it streamed: ``text`` (with ``citations_delta``
citations), ``thinking`` (``thinking_delta``, and its own ``signature_delta``),
``redacted_thinking`` (its ``data`` verbatim), ``tool_use`` and
``server_tool_use`` (``input_json_delta`` fragments, parsed into ``input``);
``message_delta`` brings the stop reason and the output usage;
``message_stop`` ends the stream; ``ping`` is ignored and ``error`` raises
:class:`~ssekit.errors.StreamError`. The output is the content blocks, as the
next request sends them back.
"""
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ..completion import Completion, Views
from .base import (
    Accumulator,
    Item,
    JSONText,
    KeyHeader,
    Text,
    ToolResult,
    WireFormat,
    as_dict,
    as_int,
    as_list,
    as_str,
    int_at,
    joined,
    list_in,
    output_text,
    raw_text_of,
    resolve,
    text_of,
    tool_call,
    tool_results_of,
)

__all__ = ["MessagesAccumulator", "FORMAT"]


#: Each block type's streamed string fields, and the delta type that extends each one.
_STREAMED = {
    "text": {"text": "text_delta"},
    "thinking": {"thinking": "thinking_delta", "signature": "signature_delta"},
    "tool_use": {"input": "input_json_delta"},
    "server_tool_use": {"input": "input_json_delta"},
}
#: Delta type -> (the block field it extends, the delta field that carries the piece).
_DELTAS = {
    "text_delta": ("text", "text"),
    "thinking_delta": ("thinking", "thinking"),
    "signature_delta": ("signature", "signature"),
    "input_json_delta": ("input", "partial_json"),
}


class MessagesAccumulator(Accumulator):
    """Accumulates an Anthropic Messages event stream.

    Usage is the ``message_start`` usage updated by each ``message_delta``
    usage (final once a ``message_delta`` brought it). ``output`` is the
    content blocks, each thinking block with its own signature; ``reasoning``
    joins the thinking blocks. ``extra`` holds ``stop_sequence`` when the
    model stopped on one. Server-side tool blocks (``server_tool_use``) are in ``output`` but are
    not client tool calls.
    """

    format = "messages"
    _proper_end = "message_stop"
    _retryable = frozenset(["overloaded_error", "rate_limit_error", "api_error"])
    _finish_reasons = {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "pause_turn": "stop",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
    }
    _events = {
        "message_start": "_on_message_start",
        "content_block_start": "_on_block_start",
        "content_block_delta": "_on_block_delta",
        "content_block_stop": "_on_block_stop",
        "message_delta": "_on_message_delta",
        "message_stop": "_on_message_stop",
        "ping": "_on_ping",
        "error": "_raise_error",
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._text_index = None  # type: Optional[int]  # the latest text block, for the common delta's short path
        self._text = Text()

    def _on_message_start(self, payload: Dict[str, Any]) -> str:
        message = as_dict(payload.get("message"))
        self._take_ids(message)
        self._take_usage(message.get("usage"), merge=True)
        return ""

    def _on_block_start(self, payload: Dict[str, Any]) -> str:
        index = as_int(payload.get("index"))
        if index is None:  # a block no later delta could name: malformed, ignored
            return ""
        block = self._add_block(index, as_dict(payload.get("content_block")))
        return block.get("text", Text()).value() if block.get("type") == "text" else ""

    def _on_block_delta(self, payload: Dict[str, Any]) -> str:
        delta = payload.get("delta")
        if delta.__class__ is not dict:
            return ""
        kind = delta.get("type")
        index = payload.get("index")
        if kind == "text_delta" and index == self._text_index:  # the common delta, directly
            piece = delta.get("text")
            if piece.__class__ is str:
                if piece:
                    self._text.pieces.append(piece)
                self._epoch = self._kept  # (only a text grew: see Accumulator._epoch)
                return piece
        kind = as_str(kind)
        index = as_int(index)
        block = self._main.keyed.get(index)
        if kind == "citations_delta":
            if block is not None and isinstance(delta.get("citation"), dict):
                list_in(block, "citations").append(delta["citation"])
            return ""
        target = _DELTAS.get(kind or "")
        if target is None:
            return ""
        field, key = target
        text = block.get(field) if block is not None else None
        if isinstance(text, Text):
            self._epoch = self._kept  # (only a text grows)
        else:
            if block is None:  # a delta without its content_block_start: open the block it implies
                block_type = "tool_use" if field == "input" else "thinking" if field == "signature" else field
                block = self._add_block(index, {"type": block_type})
                text = block.get(field)
            if text is None and field in _STREAMED.get(as_str(block.get("type")) or "", ()):
                text = block[field] = _streamed(field, None)
            if not isinstance(text, Text):
                return ""
        piece = text.add(delta.get(key))
        if field == "text":
            return piece
        if self.progress is not None:
            if field == "thinking":
                self.progress.reasoning(piece)
            elif field == "input":
                self.progress.tool_call_fragment(index, piece)
        return ""

    def _on_block_stop(self, payload: Dict[str, Any]) -> str:
        self._epoch = self._kept  # (nothing changed)
        if self.progress is not None:
            self.progress.tool_call_done(as_int(payload.get("index")))
        return ""

    def _on_ping(self, payload: Dict[str, Any]) -> str:
        self._epoch = self._kept  # (nothing changed)
        return ""

    def _on_message_delta(self, payload: Dict[str, Any]) -> str:
        delta = as_dict(payload.get("delta"))
        self._main.finish(delta.get("stop_reason"))
        self._add_stop_sequence(delta.get("stop_sequence"))
        self._take_usage(payload.get("usage"), merge=True, final=True)
        return ""

    def _on_message_stop(self, payload: Dict[str, Any]) -> str:
        self._ended = True
        return ""

    def _add_block(self, index: Optional[int], block: Mapping[str, Any]) -> Item:
        """One content block as it starts (streamed) or whole (non-streamed), verbatim; its streamed fields as Text."""
        item = Item(block)
        kind = as_str(block.get("type"))
        for field in _STREAMED.get(kind or "", ()):
            if field in block:
                item[field] = _streamed(field, block[field])
        if kind == "tool_use":
            self._main.tool_calls += 1
            if self.progress is not None:
                self.progress.tool_call_start(index, self._main.tool_calls - 1)
        elif kind == "text" and isinstance(item.get("text"), Text) and index is not None:
            self._text_index, self._text = index, item["text"]
        return self._main.add(index, item, self)

    def _add_stop_sequence(self, stop_sequence: Any) -> None:
        if isinstance(stop_sequence, str):
            self._extra["stop_sequence"] = stop_sequence

    @staticmethod
    def _views(frozen: List[Any]) -> Views:
        thinking = [block for block in frozen if block.get("type") == "thinking"]
        calls = [block for block in frozen if block.get("type") == "tool_use"]
        return Views(
            text=joined(text_of(block.get("text")) for block in frozen if block.get("type") == "text"),
            reasoning=joined(text_of(block.get("thinking")) for block in thinking),
            tool_calls=[
                tool_call(position, block.get("id"), block.get("name"), block.get("input"))
                for position, block in enumerate(calls)
            ],
            output=[resolve(block) for block in frozen],
        )

    @staticmethod
    def _usage_of(raw: Mapping[str, Any]) -> Dict[str, Optional[int]]:
        """Anthropic's names (``input_tokens`` does not count the cached input, which has its own counts)."""
        return {
            "input_tokens": int_at(raw, "input_tokens"),
            "output_tokens": int_at(raw, "output_tokens"),
            "total_tokens": None,
            "reasoning_tokens": None,
            "cache_read_input_tokens": int_at(raw, "cache_read_input_tokens"),
            "cache_creation_input_tokens": int_at(raw, "cache_creation_input_tokens"),
        }

    @staticmethod
    def _to_messages(completion: Completion, reasoning: Optional[bool]) -> List[Any]:
        """One assistant message with every content block exactly as it streamed, in order."""
        return [{"role": "assistant", "content": list(completion.output)}]

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """A non-streamed ``message`` object: its content blocks in order."""
        self._take_ids(result)
        for index, block in enumerate(as_list(result.get("content"))):
            self._add_block(index, as_dict(block))
        self._main.finish(result.get("stop_reason"))
        self._add_stop_sequence(result.get("stop_sequence"))
        self._take_usage(result.get("usage"), final=True)


def _streamed(field: str, value: Any) -> Text:
    """A block's streamed field as it starts: ``input`` as JSON text, the others as text."""
    if field == "input":
        return JSONText(raw_text_of(value))
    return Text(value if isinstance(value, str) else "")


def _recognizes(payload: Mapping[str, Any], name: Optional[str]) -> bool:
    """A Messages event (its ``type`` or SSE event name) or a ``message`` result."""
    kind = payload.get("type")
    if kind == "message":
        return True
    if not isinstance(kind, str):
        kind = name
    return isinstance(kind, str) and kind in MessagesAccumulator._events and kind not in ("error", "ping")


def tool_result_message(results: Iterable[ToolResult]) -> List[Any]:
    """ONE user message holding every ``tool_result`` block of the turn (``is_error`` where a tool failed)."""
    blocks = []  # type: List[Dict[str, Any]]
    for call, output, is_error in tool_results_of(results):
        block = {"type": "tool_result", "tool_use_id": call.id, "content": output_text(output)}  # type: Dict[str, Any]
        if is_error:
            block["is_error"] = True
        blocks.append(block)
    return [{"role": "user", "content": blocks}] if blocks else []


FORMAT = WireFormat(
    name=MessagesAccumulator.format,
    accumulator=MessagesAccumulator,
    recognizes=_recognizes,
    tool_results=tool_result_message,
    key_header=KeyHeader("x-api-key", "", {"anthropic-version": "2023-06-01"}),
    url_suffixes=("/messages",),
    history_key="messages",
)
