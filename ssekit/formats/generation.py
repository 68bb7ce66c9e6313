"""Simple gateway "generation" streams.

Frames: ``{"type": "generation_start", "id": ..., "model": ...}``, then
``{"type": "content_delta", "delta": "..."}`` pieces, then
``{"type": "generation_end", "tokens_used": N, "balance_remaining": M}``
(or ``{"type": "error", "message": ...}``), then ``data: [DONE]``.
The non-streamed result of such a gateway is one object:
``{"object": "generation", "id", "model", "text" (or "content"),
"finish_reason", "tokens_used", "balance_remaining"}``.
"""
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ..completion import Completion, Views
from ..errors import UnsupportedFormatError
from .base import (
    Accumulator,
    Choice,
    Item,
    Text,
    ToolResult,
    WireFormat,
    as_dict,
    as_str,
    first_int,
    resolve,
    text_of,
    tool_results_of,
)

__all__ = ["GenerationAccumulator", "FORMAT"]


# Keys of a generation_end frame (or result) that are not token accounting.
_NOT_USAGE = frozenset(
    ["type", "object", "id", "generation_id", "model", "finish_reason", "usage", "text", "content", "delta"]
)


class _TextChoice(Choice):
    """The one answer of a generation stream: a single text item."""

    __slots__ = ("text",)

    def __init__(self) -> None:
        super().__init__()
        self.text = Text("")
        self.items.append(Item(type="text", text=self.text))


class GenerationAccumulator(Accumulator):
    """Accumulates a gateway ``generation_start`` / ``content_delta`` / ``generation_end`` stream.

    ``usage.raw`` holds the ``generation_end`` accounting (``tokens_used``,
    ``balance_remaining`` and any other counts); ``tokens_used`` becomes
    ``usage.total_tokens``. A ``generation_end`` without ``finish_reason``
    means ``"stop"``. ``output`` is one ``{"type": "text", "text": ...}``
    item. ``extra`` is unused.
    """

    format = "generation"
    _proper_end = "generation_end"
    _retryable = frozenset(["rate_limit_exceeded", "rate_limit_error", "server_error", "overloaded_error"])
    _events = {
        "generation_start": "_on_start",
        "content_delta": "_on_delta",
        "generation_end": "_on_end",
        "error": "_raise_error",
    }

    def _new_choice(self) -> Choice:
        return _TextChoice()

    def _on_start(self, payload: Dict[str, Any]) -> str:
        self._take_ids(payload, "id", "generation_id")
        return ""

    def _on_delta(self, payload: Dict[str, Any]) -> str:
        self._epoch = self._kept  # (only a text grew: see Accumulator._epoch)
        return self._main.text.add(payload.get("delta"))  # type: ignore[attr-defined, no-any-return]

    def _on_end(self, payload: Mapping[str, Any]) -> str:
        self._take_ids(payload, "id", "generation_id")
        usage = dict(as_dict(payload.get("usage")))
        usage.update((key, value) for key, value in payload.items() if key not in _NOT_USAGE)
        self._take_usage(usage, final=True)
        self._main.finish(as_str(payload.get("finish_reason")) or "stop")
        self._ended = True
        return ""

    @staticmethod
    def _views(frozen: List[Any]) -> Views:
        return Views(text=text_of(frozen[0].get("text")), output=[resolve(item) for item in frozen])

    @staticmethod
    def _usage_of(raw: Mapping[str, Any]) -> Dict[str, Optional[int]]:
        """Gateway accounting: ``tokens_used`` is the total (with input/output counts when a gateway adds them)."""
        return {
            "input_tokens": first_int(raw, "input_tokens", "prompt_tokens"),
            "output_tokens": first_int(raw, "output_tokens", "completion_tokens"),
            "total_tokens": first_int(raw, "tokens_used", "total_tokens"),
            "reasoning_tokens": None,
            "cache_read_input_tokens": None,
            "cache_creation_input_tokens": None,
        }

    @staticmethod
    def _to_messages(completion: Completion, reasoning: Optional[bool]) -> List[Any]:
        """One plain assistant message."""
        return [{"role": "assistant", "content": completion.text}]

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """A non-streamed generation result (see the module docstring for its shape)."""
        self._on_delta({"delta": as_str(result.get("text")) or result.get("content")})
        self._on_end(result)


def _recognizes(payload: Mapping[str, Any], name: Optional[str]) -> bool:
    """A generation frame (its ``type``) or result (``object: generation``, ``tokens_used``)."""
    kind = payload.get("type")
    if not isinstance(kind, str):
        kind = name
    if kind in ("generation_start", "content_delta", "generation_end"):
        return True
    return payload.get("object") == "generation" or "tokens_used" in payload


def _no_tool_results(results: Iterable[ToolResult]) -> List[Any]:
    """The format has no tool calls, so no results to send."""
    if tool_results_of(results):
        raise UnsupportedFormatError("the generation format has no tool calls to answer")
    return []


FORMAT = WireFormat(
    name=GenerationAccumulator.format,
    accumulator=GenerationAccumulator,
    recognizes=_recognizes,
    tool_results=_no_tool_results,
)
