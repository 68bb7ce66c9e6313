"""Anthropic Messages streams (``message_start`` ... ``message_stop``).

``message_start`` brings the id, model and input usage (cache tokens stay in
``usage.raw``); ``content_block_start`` / ``content_block_delta`` /
``content_block_stop`` build ``text``, ``tool_use`` (``input_json_delta``
fragments concatenated into the call's arguments) and ``thinking`` blocks
(``thinking_delta``, ``signature_delta``); ``message_delta`` brings the stop
reason and the output usage; ``message_stop`` ends the stream; ``ping`` is
ignored and ``error`` raises :class:`~ssekit.errors.StreamError`.
"""
import json
from typing import Any, Dict, Mapping, Optional

from .base import Accumulator, KeyHeader, as_dict, as_int, as_list, as_str


class MessagesAccumulator(Accumulator):
    """Accumulates an Anthropic Messages event stream.

    Usage is the ``message_start`` usage updated by each ``message_delta``
    usage. ``extra`` holds ``thinking_signature`` (of the last thinking block)
    and ``stop_sequence`` when the model stopped on one. Server-side tool
    blocks (``server_tool_use``) are not client tool calls and are skipped.
    """

    format = "messages"
    _proper_end = "message_stop"
    key_header = KeyHeader("x-api-key", "", {"anthropic-version": "2023-06-01"})
    url_suffixes = ("/messages",)
    _events = {
        "message_start": "_on_message_start",
        "content_block_start": "_on_block_start",
        "content_block_delta": "_on_block_delta",
        "message_delta": "_on_message_delta",
        "message_stop": "_on_message_stop",
        "error": "_raise_error",
    }

    def _on_message_start(self, payload: Dict[str, Any]) -> str:
        message = as_dict(payload.get("message"))
        self._take_ids(message)
        self._take_usage(message.get("usage"), merge=True)
        return ""

    def _on_block_start(self, payload: Dict[str, Any]) -> str:
        return self._add_block(as_int(payload.get("index")), as_dict(payload.get("content_block")))

    def _on_block_delta(self, payload: Dict[str, Any]) -> str:
        delta = payload.get("delta")
        if delta.__class__ is not dict:
            return ""
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if text.__class__ is str and text:
                self._main.text.append(text)
                return text
        elif kind == "input_json_delta":
            call = self._main.tools.get(as_int(payload.get("index")))
            if call is not None:
                self._main.tools.merge(call, arguments=delta.get("partial_json"))
        elif kind == "thinking_delta":
            self._add_reasoning(delta.get("thinking"))
        elif kind == "signature_delta":
            self._add_signature(delta.get("signature"))
        return ""

    def _on_message_delta(self, payload: Dict[str, Any]) -> str:
        delta = as_dict(payload.get("delta"))
        self._main.finish(delta.get("stop_reason"))
        self._add_stop_sequence(delta.get("stop_sequence"))
        self._take_usage(payload.get("usage"), merge=True)
        return ""

    def _on_message_stop(self, payload: Dict[str, Any]) -> str:
        self._ended = True
        return ""

    def _add_block(self, index: Optional[int], block: Mapping[str, Any]) -> str:
        """One content block as it starts (streamed) or as a whole (non-streamed); returns its text."""
        kind = block.get("type")
        if kind == "text":
            text = as_str(block.get("text"))
            if text:
                self._main.text.append(text)
                return text
        elif kind == "tool_use" and index is not None:
            tool_input = block.get("input")
            arguments = json.dumps(tool_input, ensure_ascii=False) if tool_input else None
            self._main.tools.open(index, id=block.get("id"), name=block.get("name"), arguments=arguments)
        elif kind == "thinking":
            self._add_reasoning(block.get("thinking"))
            self._add_signature(block.get("signature"))
        return ""

    def _add_reasoning(self, piece: Any) -> None:
        if isinstance(piece, str) and piece:
            self._main.reasoning.append(piece)

    def _add_signature(self, signature: Any) -> None:
        if isinstance(signature, str) and signature:
            self._extra["thinking_signature"] = signature

    def _add_stop_sequence(self, stop_sequence: Any) -> None:
        if isinstance(stop_sequence, str):
            self._extra["stop_sequence"] = stop_sequence

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """A non-streamed ``message`` object: its content blocks in order."""
        self._take_ids(result)
        for index, block in enumerate(as_list(result.get("content"))):
            self._add_block(index, as_dict(block))
        self._main.finish(result.get("stop_reason"))
        self._add_stop_sequence(result.get("stop_sequence"))
        self._take_usage(result.get("usage"))
