"""Gateway "generation" frames as ssekit.testing speaks them: streams, results, requests and errors."""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ...errors import UnsupportedFormatError
from .base import Answered, Counts, ErrorLike, ToolCallSpec, UsageLike, counts, error_object, error_type, pieces, sse_event

PATH = "/v1/generate"
ID_PREFIX = "gen_local"
MAX_TOKENS_KEYS = ("max_tokens",)
PROMPT_KEYS = ("prompt", "messages")
SYSTEM_KEY = None  # type: Optional[str]
_MODEL = "gateway-small-1"
_ID = "gen_0123456789abcdef"


def _end(usage: Counts, balance_remaining: Optional[int], finish_reason: Optional[str]) -> Dict[str, Any]:
    end = {"tokens_used": usage.total_tokens}  # type: Dict[str, Any]
    if balance_remaining is not None:
        end["balance_remaining"] = balance_remaining
    if finish_reason:
        end["finish_reason"] = finish_reason
    return end


def _no_tool_calls(tool_calls: Optional[Sequence[ToolCallSpec]]) -> None:
    if tool_calls:
        raise UnsupportedFormatError("the generation format has no tool calls")


def events(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    balance_remaining: Optional[int] = 9000,
    error: ErrorLike = None,
    model: str = _MODEL,
    id: str = _ID,
    include_done: bool = True,
) -> List[bytes]:
    """A gateway stream: ``generation_start``, ``content_delta`` pieces, ``generation_end``
    (``tokens_used`` = the usage's total, ``balance_remaining``, *finish_reason* if given), then ``[DONE]``.

    With *error*, ``{"type": "error", "message": ...}`` replaces ``generation_end``.
    The format has no tool calls: passing some raises :class:`UnsupportedFormatError`.
    """
    _no_tool_calls(tool_calls)
    sent = pieces(text, tokens)
    stream = [sse_event({"type": "generation_start", "id": id, "model": model})]
    stream += [sse_event({"type": "content_delta", "delta": piece}) for piece in sent]
    if error is not None:
        stream.append(sse_event(dict(error_object(error, "error"), type="error")))
    else:
        stream.append(sse_event(dict(_end(counts(usage, len(sent)), balance_remaining, finish_reason), type="generation_end")))
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
    """The gateway's non-streamed answer (*reasoning* and *refusal* have no place in it)."""
    _no_tool_calls(tool_calls)
    sent = pieces(text, tokens)
    answer = {"object": "generation", "id": id or _ID, "model": model or _MODEL, "text": "".join(sent)}
    answer.update(_end(counts(usage, len(sent)), 9000, finish_reason or "stop"))
    return answer


def sample_request(model: str, prompt: str, stream: bool) -> Dict[str, Any]:
    """A minimal, realistic request body."""
    return {"model": model, "prompt": prompt, "stream": stream}


def tools(body: Mapping[str, Any]) -> List[Tuple[Any, Any]]:
    """The format has no tools."""
    return []


def follow_up(body: Mapping[str, Any], thinking: bool) -> List[Answered]:
    """The format has no tools, so a request sends no results back."""
    return []


def thinking(reasoning: str, tool_calls: Sequence[ToolCallSpec]) -> Dict[str, Any]:
    """The format has no tool-call turns to think before."""
    return {}


def wants_usage(body: Mapping[str, Any]) -> bool:
    """``generation_end`` always carries the accounting."""
    return True


def error_body(status: int, message: str) -> Dict[str, Any]:
    """The gateway's error body (OpenAI's shape, as most gateways copy it)."""
    return {"error": {"message": message, "type": error_type(status), "code": status}}
