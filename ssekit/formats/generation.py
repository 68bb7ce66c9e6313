"""Simple gateway "generation" streams.

Frames: ``{"type": "generation_start", "id": ..., "model": ...}``, then
``{"type": "content_delta", "delta": "..."}`` pieces, then
``{"type": "generation_end", "tokens_used": N, "balance_remaining": M}``
(or ``{"type": "error", "message": ...}``), then ``data: [DONE]``.
The non-streamed result of such a gateway is one object:
``{"object": "generation", "id", "model", "text" (or "content"),
"finish_reason", "tokens_used", "balance_remaining"}``.
"""
from typing import Any, Dict, Mapping

from .base import Accumulator, as_dict, as_str

# Keys of a generation_end frame (or result) that are not token accounting.
_NOT_USAGE = frozenset(
    ["type", "object", "id", "generation_id", "model", "finish_reason", "usage", "text", "content", "delta"]
)


class GenerationAccumulator(Accumulator):
    """Accumulates a gateway ``generation_start`` / ``content_delta`` / ``generation_end`` stream.

    ``usage.raw`` holds the ``generation_end`` accounting (``tokens_used``,
    ``balance_remaining`` and any other counts); ``tokens_used`` becomes
    ``usage.total_tokens``. A ``generation_end`` without ``finish_reason``
    means ``"stop"``. ``extra`` is unused.
    """

    format = "generation"
    _proper_end = "generation_end"
    _events = {
        "generation_start": "_on_start",
        "content_delta": "_on_text_delta",
        "generation_end": "_on_end",
        "error": "_raise_error",
    }

    def _on_start(self, payload: Dict[str, Any]) -> str:
        self._take_ids(payload, "id", "generation_id")
        return ""

    def _on_end(self, payload: Mapping[str, Any]) -> str:
        self._take_ids(payload, "id", "generation_id")
        usage = dict(as_dict(payload.get("usage")))
        usage.update((key, value) for key, value in payload.items() if key not in _NOT_USAGE)
        self._take_usage(usage)
        self._main.finish(as_str(payload.get("finish_reason")) or "stop")
        self._ended = True
        return ""

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """A non-streamed generation result (see the module docstring for its shape)."""
        self._on_text_delta({"delta": as_str(result.get("text")) or result.get("content")})
        self._on_end(result)
