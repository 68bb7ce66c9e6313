"""The result types every wire format rebuilds into: Completion, ToolCall, Usage.

Plain frozen values: readable ``repr``, ``==``, and ``to_dict()`` for JSON.
Standard library only.
"""
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from .errors import ToolCallArgumentsError

# Provider finish reasons mapped onto the OpenAI vocabulary; others pass through.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "completed": "stop",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
    "refusal": "content_filter",
}


def normalize_finish_reason(raw: Optional[str]) -> Optional[str]:
    """Map a provider's stop reason to ``stop`` / ``length`` / ``tool_calls`` / ..."""
    if raw is None:
        return None
    return _FINISH_REASONS.get(raw, raw)


@dataclass(frozen=True)
class Usage:
    """Token counts, normalised across providers; ``raw`` keeps what was sent."""

    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_raw(cls, raw: Optional[Dict[str, Any]]) -> "Usage":
        """Build from any provider's usage dict (OpenAI, Responses, Anthropic, gateways)."""
        if not isinstance(raw, dict):
            return cls()
        input_tokens = _first_int(raw, "input_tokens", "prompt_tokens")
        output_tokens = _first_int(raw, "output_tokens", "completion_tokens")
        total_tokens = _first_int(raw, "total_tokens", "tokens_used")
        if total_tokens is None and input_tokens is not None and output_tokens is not None:
            total_tokens = input_tokens + output_tokens
        return cls(input_tokens, output_tokens, total_tokens, dict(raw))

    def __bool__(self) -> bool:
        return bool(self.raw) or self.total_tokens is not None


def _first_int(raw: Dict[str, Any], *keys: str) -> Optional[int]:
    for key in keys:
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


@dataclass(frozen=True)
class ToolCall:
    """One function/tool call; ``arguments`` is the JSON string exactly as sent."""

    index: int
    id: Optional[str] = None
    name: Optional[str] = None
    arguments: str = ""
    type: str = "function"

    def parse_arguments(self) -> Any:
        """The arguments as Python data; ``{}`` when none were sent.

        Raises :class:`ToolCallArgumentsError` (a ``ValueError``) on invalid JSON,
        e.g. when the stream was cut in the middle of the arguments.
        """
        if not self.arguments.strip():
            return {}
        try:
            return json.loads(self.arguments)
        except ValueError as exc:
            raise ToolCallArgumentsError(
                "arguments of tool call %r (index %d) are not valid JSON: %s"
                % (self.name, self.index, exc)
            ) from None


@dataclass(frozen=True)
class Completion:
    """What the model said, rebuilt from the stream (a snapshot when taken mid-stream).

    ``finish_reason`` is normalised (``stop``, ``length``, ``tool_calls``,
    ``content_filter``...), ``raw_finish_reason`` is the provider's own value.
    ``complete`` is True only once the stream ended properly for its format.
    ``choices`` holds one Completion per choice when a Chat Completions stream
    carried several (``n > 1``); the top-level fields speak for choice 0.
    ``extra`` keeps provider-specific values (e.g. a thinking signature).
    """

    text: str = ""
    tool_calls: List[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: Optional[str] = None
    id: Optional[str] = None
    model: Optional[str] = None
    complete: bool = False
    reasoning: str = ""
    refusal: Optional[str] = None
    raw_finish_reason: Optional[str] = None
    format: Optional[str] = None
    choices: List["Completion"] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict of every field (nested values included)."""
        return asdict(self)

    def to_json(self, **dumps_kwargs: Any) -> str:
        """``json.dumps(self.to_dict())``; keyword arguments go to ``json.dumps``."""
        dumps_kwargs.setdefault("ensure_ascii", False)
        return json.dumps(self.to_dict(), **dumps_kwargs)
