"""What the testing twins of the wire formats share: the builders' keywords and small pieces.

Every provider module of this package builds byte-exact streams (``events``)
and non-streamed results (``result``) from the same keywords: *text* (or its
pieces as *tokens*), *tool_calls* as dicts ``{"id", "name", "arguments"}``
(arguments a JSON string, streamed in fragments; a missing id is made up),
*usage* as a dict with any provider's keys or a
:class:`~ssekit.completion.Usage` (made up when None: 12 input tokens, one
output token a piece), *finish_reason* in the normalised vocabulary (``stop``,
``length``, ``tool_calls``, ``content_filter``; the format's own values pass
through), *error* (a message or an error object) to end the stream with a
provider error, *model* and *id*. Output is deterministic. Standard library only.
"""
import hashlib
import json
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ...completion import Usage
from ...formats.base import first_int

UsageLike = Union[Usage, Mapping[str, Any], None]
ErrorLike = Union[str, Mapping[str, Any], None]
ToolCallSpec = Mapping[str, str]

#: A fixed timestamp: builder output is deterministic.
CREATED = 1735689600
_TOKEN = re.compile(r" ?\w+| ?[^\w\s]+|\s+")
_DEFAULT_INPUT_TOKENS = 12
# The usage keys of every provider the builders accept, by what they count.
_INPUT_KEYS = ("input_tokens", "prompt_tokens")
_OUTPUT_KEYS = ("output_tokens", "completion_tokens")
_TOTAL_KEYS = ("total_tokens", "tokens_used")


def split_tokens(text: str) -> List[str]:
    """Split *text* into word-ish pieces, as a tokenizer would; ``"".join`` gives *text* back."""
    return _TOKEN.findall(text)


def sse_event(payload: Any, event: Optional[str] = None) -> bytes:
    """One SSE event: an optional ``event:`` line, a ``data:`` line (compact JSON or a string), a blank line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    head = "event: %s\n" % event if event else ""
    return ("%sdata: %s\n\n" % (head, data)).encode("utf-8")


def pieces(text: Optional[str], tokens: Optional[Sequence[str]] = None) -> List[str]:
    """The text as the pieces a stream sends (*tokens* when given)."""
    if tokens is not None:
        return list(tokens)
    return split_tokens(text) if text else []


def fragments(arguments: str, size: int = 7) -> List[str]:
    """Cut a tool call's arguments into fragments the way providers stream them."""
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def calls(tool_calls: Optional[Sequence[ToolCallSpec]], id_prefix: str) -> List[Dict[str, str]]:
    """The tool calls with an id each (made up from *id_prefix* when missing) and arguments."""
    made = []
    for number, call in enumerate(tool_calls or []):
        call_id = call.get("id") or "%s%024d" % (id_prefix, number)
        made.append({"id": call_id, "name": call["name"], "arguments": call.get("arguments") or ""})
    return made


class Counts:
    """The token counts a builder writes, in whatever keys its provider uses; ``extra`` keeps other keys."""

    def __init__(self, input_tokens: int, output_tokens: int, total_tokens: int, extra: Mapping[str, Any]) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.total_tokens = total_tokens
        self.extra = dict(extra)

    def native(self, input_key: str, output_key: str, **more: Any) -> Dict[str, Any]:
        """The usage in a provider's own keys, plus the other keys given (cache counts...)."""
        native = {input_key: self.input_tokens, output_key: self.output_tokens}  # type: Dict[str, Any]
        native.update(more)
        native.update(self.extra)
        return native


def counts(usage: UsageLike, pieces: int) -> Counts:
    """*usage* (any provider's keys, or a Usage) as Counts; when None, 12 input tokens and one output token a piece."""
    if usage is None:
        return Counts(_DEFAULT_INPUT_TOKENS, pieces, _DEFAULT_INPUT_TOKENS + pieces, {})
    if isinstance(usage, Usage):
        raw = dict(usage.raw) or {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                                  "total_tokens": usage.total_tokens}  # fmt: skip
    else:
        raw = dict(usage)
    given = first_int(raw, *_INPUT_KEYS)
    made = first_int(raw, *_OUTPUT_KEYS)
    total = first_int(raw, *_TOTAL_KEYS)
    if total is None and given is not None and made is not None:
        total = given + made
    extra = {key: value for key, value in raw.items() if key not in _INPUT_KEYS + _OUTPUT_KEYS + _TOTAL_KEYS}
    return Counts(given or 0, made or 0, total or 0, extra)


def error_object(error: Union[str, Mapping[str, Any]], default_type: str) -> Dict[str, Any]:
    """*error* as an error object (a plain message gets *default_type*)."""
    if isinstance(error, str):
        return {"type": default_type, "message": error}
    return dict(error)


#: The error ``type`` OpenAI and Anthropic give each HTTP status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """The error ``type`` for an HTTP *status* (``api_error`` for any other)."""
    return ERROR_TYPES.get(status, "api_error")


def text_of(value: Any) -> str:
    """All the text in a message, a content list or an input value (for the gateway's token counts)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(text for text in (text_of(item) for item in value) if text)
    if isinstance(value, dict):
        return " ".join(text for text in (text_of(value.get(key)) for key in ("content", "text", "input", "parts")) if text)
    return ""


# --- follow-up requests: the history a client sends back ------------------------------

#: One tool result found in a follow-up request: (the tool's name, its output as text).
Answered = Tuple[str, str]


class Refusal(ValueError):
    """What a provider's API refuses in a follow-up request; the gateway answers it with a 400."""


def signature(*texts: Any) -> str:
    """A deterministic stand-in for a provider's opaque signature over *texts* (thinking, reasoning items).

    The gateway signs what it sends and checks the signature when it comes
    back, as the real APIs do: a changed text or signature is refused.
    """
    digest = hashlib.sha256("\x00".join(str(text) for text in texts).encode("utf-8")).hexdigest()
    return "sig_" + digest[:40]


def output_of(value: Any) -> str:
    """A tool output as text, for the gateway's quotes (JSON for anything that is not a string)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def tool_messages_answered(
    messages: Any, *, reasoning_key: Optional[str], content_of: Callable[[Any], str]
) -> List[Answered]:
    """The results of an OpenAI-shaped history (Chat Completions, Cohere): ``role: tool`` messages after an
    assistant message's ``tool_calls``; refused as the APIs refuse: a ``tool_call_id`` that matches no call of
    the assistant message before, a call without its tool message, and (with *reasoning_key*, a thinking
    model) a tool-call turn without that key.
    """
    answered = []  # type: List[Answered]
    pending = None  # type: Optional[Dict[Any, str]]  # call id -> name, of the last assistant turn's calls
    for number, message in enumerate(member for member in (messages if isinstance(messages, list) else []) if isinstance(member, dict)):
        if message.get("role") == "tool":
            call_id = message.get("tool_call_id")
            if pending is None or call_id not in pending:
                raise Refusal("messages[%d]: tool_call_id %r matches no tool call of the preceding assistant message" % (number, call_id))
            answered.append((pending.pop(call_id), content_of(message.get("content"))))
            continue
        _no_missing_results(pending)
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        pending = None
        if isinstance(calls, list) and calls:
            if reasoning_key and not isinstance(message.get(reasoning_key), str):
                raise Refusal("messages[%d]: the %s must be passed back on an assistant message with tool calls (thinking mode)"
                              % (number, reasoning_key))  # fmt: skip
            pending = {}
            for call in calls:
                function = call.get("function") if isinstance(call, dict) else None
                name = function.get("name") if isinstance(function, dict) else None
                pending[call.get("id") if isinstance(call, dict) else None] = name if isinstance(name, str) else ""
    _no_missing_results(pending)
    return answered


def _no_missing_results(pending: Optional[Dict[Any, str]]) -> None:
    if pending:
        raise Refusal("an assistant message with 'tool_calls' must be followed by tool messages responding to each "
                      "'tool_call_id'; these did not have one: %s" % ", ".join(map(str, pending)))  # fmt: skip
