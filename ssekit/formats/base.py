"""What every wire-format accumulator shares (standard library only).

:class:`Accumulator` turns the events of one stream into a
:class:`~ssekit.completion.Completion`: it decodes each event's JSON, handles
``[DONE]``, keeps text, reasoning and refusal as lists of pieces joined only
when a snapshot is taken (so N events cost O(total size)), assembles tool calls
from fragments, normalises usage and finish reasons, and raises provider errors
with what was rebuilt so far. A format module only maps its events onto that
machinery: a :class:`Choice` (text, reasoning and refusal pieces, its
:class:`ToolCalls`, its finish reason), ``_take_ids``, ``_take_usage``,
``_raise_error`` and the ``_extra`` dict.
"""
import dataclasses
import json
from types import MappingProxyType
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Tuple, Union

from ..completion import Completion, ToolCall, Usage, normalize_finish_reason
from .._text import NO_SECRETS, Secrets, preview, printable
from ..errors import IncompleteStreamError, MalformedEventError, StreamError
from ..sse import ServerSentEvent

#: What :meth:`Accumulator.add` accepts: an event, its decoded JSON, or its data.
EventLike = Union[ServerSentEvent, Dict[str, Any], str]

#: A read-only empty mapping: the stand-in for a field that is missing or not an object.
EMPTY = MappingProxyType({})  # type: Mapping[str, Any]

_loads = json.loads
# The stdlib scanner json.loads ends in, called directly: for the common event
# (a JSON object with nothing around it) this halves the decoding overhead.
_scan = json.JSONDecoder().scan_once


def as_dict(value: Any) -> Mapping[str, Any]:
    """*value* if it is a JSON object, else :data:`EMPTY` (wrong types are ignored)."""
    return value if isinstance(value, dict) else EMPTY


def as_str(value: Any) -> Optional[str]:
    """*value* if it is a string, else None."""
    return value if isinstance(value, str) else None


def as_list(value: Any) -> List[Any]:
    """*value* if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def as_int(value: Any) -> Optional[int]:
    """*value* if it is an integer (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _joined(parts: List[str]) -> str:
    """The pieces as one string, kept joined so that the next snapshot only adds the new pieces."""
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""


class _ToolCallParts:
    """One tool call being assembled; ``arguments`` is a list of fragments."""

    __slots__ = ("index", "id", "name", "arguments", "type")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id = None  # type: Optional[str]
        self.name = None  # type: Optional[str]
        self.arguments = []  # type: List[str]
        self.type = "function"

    def build(self) -> ToolCall:
        return ToolCall(self.index, self.id, self.name, "".join(self.arguments), self.type)


class ToolCalls:
    """The tool calls of one choice, assembled from fragments.

    Calls are found by a format-chosen *key* (chat ``index``, Responses output
    index, Messages block index). ``id`` and ``name`` are set once: a provider
    that repeats them in every fragment does not get them doubled.
    """

    __slots__ = ("_by_key", "_calls")

    def __init__(self) -> None:
        self._by_key = {}  # type: Dict[Any, _ToolCallParts]
        self._calls = []  # type: List[_ToolCallParts]

    def get(self, key: Any) -> Optional[_ToolCallParts]:
        """The call registered under *key*, if any."""
        return self._by_key.get(key)

    def by_id(self, call_id: str) -> Optional[_ToolCallParts]:
        """The call whose id is *call_id*, if any."""
        for call in self._calls:
            if call.id == call_id:
                return call
        return None

    @property
    def last(self) -> Optional[_ToolCallParts]:
        """The most recently opened call, if any."""
        return self._calls[-1] if self._calls else None

    def next_index(self) -> int:
        """The index a new call without a provider index gets."""
        return max(call.index for call in self._calls) + 1 if self._calls else 0

    def open(
        self,
        key: Any,
        *,
        index: Optional[int] = None,
        id: Any = None,
        name: Any = None,
        arguments: Any = None,
    ) -> _ToolCallParts:
        """Find or create the call for *key* and merge what this fragment brings."""
        call = self._by_key.get(key)
        if call is None:
            call = _ToolCallParts(self.next_index() if index is None else index)
            self._by_key[key] = call
            self._calls.append(call)
        self.merge(call, id=id, name=name, arguments=arguments)
        return call

    @staticmethod
    def merge(call: _ToolCallParts, *, id: Any = None, name: Any = None, arguments: Any = None) -> None:
        """Set id and name if not yet known; append an arguments fragment."""
        if call.id is None and isinstance(id, str) and id:
            call.id = id
        if call.name is None and isinstance(name, str) and name:
            call.name = name
        if isinstance(arguments, str) and arguments:
            call.arguments.append(arguments)

    @staticmethod
    def replace_arguments(call: _ToolCallParts, arguments: Any) -> None:
        """Replace the fragments with the complete arguments a ``done`` event sends."""
        if isinstance(arguments, str):
            call.arguments = [arguments] if arguments else []

    def build(self) -> List[ToolCall]:
        """The calls as :class:`ToolCall` values, ordered by index."""
        return sorted((call.build() for call in self._calls), key=lambda call: call.index)


class Choice:
    """The pieces of one answer (one choice): text, reasoning, refusal, tool calls, stop reason."""

    __slots__ = ("text", "reasoning", "refusal", "tools", "raw_finish_reason")

    def __init__(self) -> None:
        self.text = []  # type: List[str]
        self.reasoning = []  # type: List[str]
        self.refusal = None  # type: Optional[List[str]]
        self.tools = ToolCalls()
        self.raw_finish_reason = None  # type: Optional[str]

    def add_refusal(self, piece: Any) -> None:
        """Append refusal text (the refusal stays None until some arrives)."""
        if isinstance(piece, str):
            if self.refusal is None:
                self.refusal = []
            self.refusal.append(piece)

    def finish(self, raw_reason: Any) -> None:
        """Record the provider's finish/stop reason (non-strings are ignored)."""
        if isinstance(raw_reason, str) and raw_reason:
            self.raw_finish_reason = raw_reason


@dataclasses.dataclass(frozen=True)
class KeyHeader:
    """How a format sends the API key: ``{name}: {prefix}{key}``, plus headers the API requires beside it.

    *required* headers are added only when the caller has not set them (e.g.
    Anthropic's ``anthropic-version``).
    """

    name: str = "Authorization"
    prefix: str = "Bearer "
    required: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def headers(self, api_key: str) -> Dict[str, str]:
        """The headers carrying *api_key* (the required ones included)."""
        headers = dict(self.required)
        headers[self.name] = self.prefix + api_key
        return headers


#: OpenAI's way, which most gateways copy.
BEARER = KeyHeader()


class Accumulator:
    """Rebuilds a :class:`Completion` from the events of one stream, one event at a time.

    ``add(event)`` takes a :class:`~ssekit.sse.ServerSentEvent`, an already
    decoded ``dict`` or the data string (``"[DONE]"`` included) and returns the
    text the event added. ``completion`` is a snapshot at any moment;
    ``finish()`` returns the final one or raises :class:`IncompleteStreamError`.
    *fallback_id* is the id used when the body carries none (e.g. the
    ``x-request-id`` header). Provider error events raise :class:`StreamError`,
    data that is not JSON raises :class:`MalformedEventError`; both carry
    ``.partial``. Fields of unexpected types are ignored, never crash.
    """

    #: The format name, as used by :func:`ssekit.formats.accumulate`.
    format = ""  # type: ClassVar[str]
    #: Event type -> handler method name, for formats whose events carry a type.
    _events = {}  # type: ClassVar[Dict[str, str]]
    #: What a proper end of this format looks like, for the IncompleteStreamError message.
    _proper_end = "data: [DONE]"  # type: ClassVar[str]
    #: How the API key is sent to this format's API.
    key_header = BEARER  # type: ClassVar[KeyHeader]
    #: URL path endings that name this format (for the key header under ``format="auto"``).
    url_suffixes = ()  # type: ClassVar[Tuple[str, ...]]

    def __init__(self, *, fallback_id: Optional[str] = None, secrets: Secrets = NO_SECRETS) -> None:
        self.fallback_id = fallback_id
        self._secrets = secrets
        self.id = None  # type: Optional[str]
        self.model = None  # type: Optional[str]
        self._usage = None  # type: Optional[Dict[str, Any]]
        self._extra = {}  # type: Dict[str, Any]
        self._ended = False
        self._choices = {}  # type: Dict[int, Choice]
        self._main = self._choice(0)
        self._handlers = {name: getattr(self, method) for name, method in self._events.items()}

    # --- the public API -------------------------------------------------

    def add(self, event: EventLike) -> str:
        """Feed one event; return the text it added to the answer ("" if none)."""
        if type(event) is ServerSentEvent:
            data = event.data
            name = event.event  # type: Optional[str]
        elif isinstance(event, dict):
            return self._dispatch(event, None)
        elif isinstance(event, str):
            data, name = event, None
        else:
            data, name = event.data, event.event  # a ServerSentEvent look-alike
        try:
            payload, end = _scan(data, 0)
        except (StopIteration, ValueError, RecursionError):
            end = -1
        if end != len(data):  # whitespace around the JSON, [DONE], or not JSON at all
            payload = self._decode(data)
            if payload is None:
                return ""
        if type(payload) is not dict:
            raise MalformedEventError(
                self._secrets.redact("%s event data is JSON but not an object: %s" % (self.format, preview(data))),
                data=data,
                partial=self.completion,
            )
        if name == "error":
            self._raise_error(payload)
        return self._dispatch(payload, name)

    def _decode(self, data: str) -> Any:
        """The slow path of JSON decoding: None for ``[DONE]`` (which ends the stream) and empty data."""
        stripped = data.strip()
        if stripped == "[DONE]":
            self._ended = True
            return None
        if not stripped:
            return None
        try:
            return _loads(data)
        except (ValueError, RecursionError) as exc:
            raise MalformedEventError(
                self._secrets.redact("%s event data is not valid JSON (%s): %s" % (self.format, exc, preview(data))),
                data=data,
                partial=self.completion,
            ) from None

    @property
    def complete(self) -> bool:
        """True once the stream ended properly for its format."""
        return self._ended

    @property
    def ended(self) -> bool:
        """True once the format's end marker arrived (``[DONE]``, ``message_stop``...): stop reading."""
        return self._ended

    @property
    def completion(self) -> Completion:
        """A fresh snapshot of everything rebuilt so far."""
        complete = self.complete
        top = self._build_choice(self._main, complete, whole=True)
        if len(self._choices) < 2:
            return top
        choices = [self._build_choice(self._choices[index], complete) for index in sorted(self._choices)]
        return dataclasses.replace(top, choices=choices)

    def finish(self) -> Completion:
        """The final Completion; :class:`IncompleteStreamError` if the stream ended early."""
        completion = self.completion
        if not completion.complete:
            raise IncompleteStreamError(
                "%s stream ended before its proper end (%s): %d characters of text and %d tool call(s) "
                "received so far are in .partial" % (self.format, self._proper_end, len(completion.text), len(completion.tool_calls)),
                partial=completion,
            )
        return completion

    @classmethod
    def from_result(cls, result: Mapping[str, Any], *, fallback_id: Optional[str] = None) -> Completion:
        """The complete Completion of a non-streamed result object of this format."""
        accumulator = cls(fallback_id=fallback_id)
        accumulator._check_result_error(result)
        accumulator._load_result(result)
        accumulator._ended = True
        return accumulator.completion

    # --- what formats override --------------------------------------------

    def _dispatch(self, payload: Dict[str, Any], name: Optional[str]) -> str:
        """Route one decoded event to its handler by ``type`` (or the SSE event name)."""
        kind = payload.get("type")
        if kind.__class__ is not str:
            kind = name
        handler = self._handlers.get(kind)
        if handler is None:
            return self._untyped(payload)
        return handler(payload)

    def _untyped(self, payload: Dict[str, Any]) -> str:
        """Handle an event whose type this format does not know: ignored by default."""
        return ""

    def _on_text_delta(self, payload: Dict[str, Any]) -> str:
        """The common text event ``{"delta": "..."}``: append it to the answer and return it."""
        delta = payload.get("delta")
        if delta.__class__ is str and delta:
            self._main.text.append(delta)
            return delta
        return ""

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """Fill the state from a complete non-streamed result (overridden per format)."""
        raise NotImplementedError

    def _check_result_error(self, result: Mapping[str, Any]) -> None:
        """Raise StreamError when a result object is an error object."""
        if result.get("error") or result.get("type") == "error":
            self._raise_error(result)

    # --- shared machinery -------------------------------------------------

    def _choice(self, index: int) -> Choice:
        """The state of choice *index*, created on first use."""
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = Choice()
        return choice

    def _take_ids(self, obj: Mapping[str, Any], *id_keys: str) -> None:
        """Remember the first id (under one of *id_keys*, default ``id``) and model seen."""
        if self.id is None:
            for key in id_keys or ("id",):
                value = obj.get(key)
                if isinstance(value, str) and value:
                    self.id = value
                    break
        if self.model is None:
            model = obj.get("model")
            if isinstance(model, str) and model:
                self.model = model

    def _take_usage(self, usage: Any, *, merge: bool = False) -> None:
        """Keep the latest usage object; with *merge*, update the known counts instead."""
        if not isinstance(usage, dict):
            return
        if merge and self._usage:
            self._usage.update((key, value) for key, value in usage.items() if value is not None)
        else:
            self._usage = dict(usage)

    def _raise_error(self, body: Mapping[str, Any]) -> None:
        """Raise StreamError from an error event/object: ``{"error": {...}}`` or ``{"message": ...}``."""
        error = body.get("error")
        if isinstance(error, str):
            error = {"message": error}
        detail = as_dict(error) or body
        message = detail.get("message")
        if not isinstance(message, str) or not message:
            try:
                quoted = json.dumps(error if error else body, default=str)[:500]
            except (ValueError, RecursionError):
                quoted = "(an error object nested too deep to quote)"
            message = "the provider reported an error: %s" % quoted
        kind = detail.get("type")
        if kind == "error" or not isinstance(kind, str):
            kind = None
        secrets = self._secrets
        raise StreamError(
            secrets.redact(printable(message, 1000)),
            type=kind,
            code=secrets.redact_value(detail.get("code")),
            body=secrets.redact_value(dict(body)),
            partial=self.completion,
        )

    def _build_usage(self) -> Usage:
        return Usage.from_raw(self._usage)

    def _build_choice(self, choice: Choice, complete: bool, *, whole: bool = False) -> Completion:
        """One choice as a Completion; *whole* adds what belongs to the whole stream (usage, extra)."""
        tool_calls = choice.tools.build()
        raw_reason = choice.raw_finish_reason
        reason = normalize_finish_reason(raw_reason)
        if reason == "stop" and tool_calls:
            reason = "tool_calls"
        refusal = choice.refusal
        return Completion(
            text=_joined(choice.text),
            tool_calls=tool_calls,
            usage=self._build_usage() if whole else Usage(),
            finish_reason=reason,
            id=self.id or self.fallback_id,
            model=self.model,
            complete=complete,
            reasoning=_joined(choice.reasoning),
            refusal=None if refusal is None else _joined(refusal),
            raw_finish_reason=raw_reason,
            format=self.format or None,
            extra=dict(self._extra) if whole else {},
        )
