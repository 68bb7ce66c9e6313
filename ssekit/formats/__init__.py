"""The wire formats: one accumulator per format, format detection, and :func:`accumulate`.

``FORMATS`` maps each format name to its accumulator class;
:func:`new_accumulator` builds one by name (``"auto"`` recognises the format
from the first meaningful event); :func:`completion_from_result` reads a
non-streamed answer of any known format. Standard library only.
"""
import json
from urllib.parse import urlsplit
from typing import Any, Dict, Iterable, Mapping, Optional, Type

from .._text import NO_SECRETS, Secrets, printable
from ..completion import Completion
from ..errors import IncompleteStreamError, UnsupportedFormatError
from ..sse import ServerSentEvent
from .base import BEARER, Accumulator, EventLike, KeyHeader, as_str
from .chat_completions import ChatCompletionsAccumulator
from .generation import GenerationAccumulator
from .messages import MessagesAccumulator
from .responses import ResponsesAccumulator

#: Format name -> accumulator class.
FORMATS = {
    cls.format: cls
    for cls in (ChatCompletionsAccumulator, ResponsesAccumulator, MessagesAccumulator, GenerationAccumulator)
}  # type: Dict[str, Type[Accumulator]]

# Event types (payload "type" or SSE event name) that only one format uses.
_FORMAT_OF_TYPE = {
    kind: name
    for name, cls in FORMATS.items()
    for kind in cls._events
    if kind not in ("error", "ping")
}  # type: Dict[str, str]


def _format_of(payload: Mapping[str, Any], name: Optional[str]) -> Optional[str]:
    """The format of a decoded event or result object, None when it says nothing."""
    kind = payload.get("type")
    if isinstance(kind, str):
        if kind in _FORMAT_OF_TYPE:
            return _FORMAT_OF_TYPE[kind]
        if kind.startswith("response."):
            return "responses"
        if kind == "message":
            return "messages"
    obj = payload.get("object")
    if obj in ("chat.completion.chunk", "chat.completion") or isinstance(payload.get("choices"), list):
        return "chat_completions"
    if obj == "response" or (as_str(payload.get("id")) or "").startswith("resp_"):
        return "responses"
    if obj == "generation" or "tokens_used" in payload:
        return "generation"
    if name and name != "message":
        return _FORMAT_OF_TYPE.get(name, "responses" if name.startswith("response.") else None)
    return None


def detect_format(payload_or_event: Any) -> Optional[str]:
    """The format name of one event (``ServerSentEvent``, decoded dict or data string) or result object.

    None when the event says nothing about its format (``ping``, an error,
    ``[DONE]``, data that is not a JSON object).
    """
    name = None  # type: Optional[str]
    payload = payload_or_event
    if isinstance(payload, ServerSentEvent):
        name, payload = payload.event, payload.data
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = None
    if not isinstance(payload, dict):
        return _format_of({}, name) if name else None
    return _format_of(payload, name)


class AutoAccumulator(Accumulator):
    """An accumulator that recognises the format from the first meaningful event, then delegates.

    Events that say nothing about the format (``ping``, unknown objects) are
    skipped until then; an error event raises :class:`StreamError` at once.
    ``delegate`` is the real accumulator once the format is known.
    """

    format = "auto"
    _proper_end = "an event of a known format"

    def __init__(self, *, fallback_id: Optional[str] = None, secrets: Secrets = NO_SECRETS) -> None:
        super().__init__(fallback_id=fallback_id, secrets=secrets)
        self.delegate = None  # type: Optional[Accumulator]
        self._skipped = 0

    def add(self, event: EventLike) -> str:
        """Feed one event; return the text it added."""
        if self.delegate is not None:
            return self.delegate.add(event)
        return super().add(event)

    def _dispatch(self, payload: Dict[str, Any], name: Optional[str]) -> str:
        format_name = _format_of(payload, name)
        if format_name is None:
            self._check_result_error(payload)
            self._skipped += 1
            return ""
        self.delegate = FORMATS[format_name](fallback_id=self.fallback_id, secrets=self._secrets)
        return self.delegate._dispatch(payload, name)

    @property
    def complete(self) -> bool:
        """True once the stream ended properly for its format."""
        return self.delegate.complete if self.delegate is not None else self._ended

    @property
    def ended(self) -> bool:
        """True once the format's end marker arrived: stop reading."""
        return self.delegate.ended if self.delegate is not None else self._ended

    @property
    def completion(self) -> Completion:
        """A snapshot of everything rebuilt so far (empty until the format is known)."""
        if self.delegate is not None:
            return self.delegate.completion
        return Completion(id=self.fallback_id, complete=self._ended)

    def finish(self) -> Completion:
        """The final Completion; an error when the stream ended early or its format is unknown."""
        if self.delegate is not None:
            return self.delegate.finish()
        if self._skipped:
            raise UnsupportedFormatError(
                "could not recognise the stream format from %d event(s); pass format= one of %s"
                % (self._skipped, _format_names()),
                partial=self.completion,
            )
        if not self._ended:
            raise IncompleteStreamError("the stream ended before any event", partial=self.completion)
        return self.completion


def _format_names() -> str:
    return ", ".join(["auto"] + sorted(FORMATS))


def key_header(format: str, url: str) -> KeyHeader:
    """How the API key goes out for *format*; with ``"auto"``, the format the URL's path names.

    The rule for ``"auto"``: a path ending in a format's ``url_suffixes``
    (``/messages`` is Anthropic's) picks that format's header; any other URL
    gets ``Authorization: Bearer``.
    """
    cls = FORMATS.get(format)
    if cls is None:
        path = urlsplit(url).path.rstrip("/") if "://" in url else url
        cls = next((cls for cls in FORMATS.values() if path.endswith(cls.url_suffixes)), None)
    return cls.key_header if cls is not None else BEARER


#: Every header name a format sends a key in (stripped on cross-origin redirects, redacted everywhere).
KEY_HEADER_NAMES = tuple(sorted({cls.key_header.name.lower() for cls in FORMATS.values()}))


def new_accumulator(
    format: str = "auto", *, fallback_id: Optional[str] = None, secrets: Secrets = NO_SECRETS
) -> Accumulator:
    """A fresh accumulator for *format* (a :data:`FORMATS` name or ``"auto"``); its errors redact *secrets*."""
    if format == "auto":
        return AutoAccumulator(fallback_id=fallback_id, secrets=secrets)
    cls = FORMATS.get(format)
    if cls is None:
        raise UnsupportedFormatError("unknown format %r; valid formats: %s" % (format, _format_names()))
    return cls(fallback_id=fallback_id, secrets=secrets)


def accumulate(events: Iterable[EventLike], format: str = "auto") -> Completion:
    """Feed every event to one accumulator and return the final Completion.

    Raises :class:`IncompleteStreamError` (with ``.partial``) when the events
    end before the format's proper end, :class:`StreamError` on a provider
    error event.
    """
    accumulator = new_accumulator(format)
    for event in events:
        accumulator.add(event)
    return accumulator.finish()


def completion_from_result(
    obj: Any, *, fallback_id: Optional[str] = None, secrets: Secrets = NO_SECRETS
) -> Completion:
    """The complete Completion of a non-streamed answer (``chat.completion``, Responses
    ``response``, Anthropic ``message``, generation result).

    A JSON error object raises :class:`StreamError`; anything else
    :class:`UnsupportedFormatError`.
    """
    if not isinstance(obj, dict):
        raise UnsupportedFormatError("a result must be a JSON object, not %s" % type(obj).__name__)
    AutoAccumulator(fallback_id=fallback_id, secrets=secrets)._check_result_error(obj)
    format_name = _format_of(obj, None)
    if format_name is None:
        raise UnsupportedFormatError(
            "not a result of a known format (%s); keys: %s" % (_format_names(), printable(", ".join(sorted(obj)), 200))
        )
    return FORMATS[format_name].from_result(obj, fallback_id=fallback_id)


__all__ = [
    "Accumulator",
    "AutoAccumulator",
    "ChatCompletionsAccumulator",
    "FORMATS",
    "GenerationAccumulator",
    "KEY_HEADER_NAMES",
    "KeyHeader",
    "MessagesAccumulator",
    "ResponsesAccumulator",
    "accumulate",
    "completion_from_result",
    "detect_format",
    "key_header",
    "new_accumulator",
]
