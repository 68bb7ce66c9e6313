"""The wire formats: the registry, format detection, and :func:`accumulate`.

Each format is one module of this package holding everything ssekit knows
about it (see :mod:`ssekit.formats.base`): its accumulator, its finish-reason
and usage vocabulary, how it is recognised and how its API key is sent. The
module exports ``FORMAT``, a :class:`~ssekit.formats.base.WireFormat`, and
:data:`REGISTRY` below lists them. Standard library only.

``format="auto"`` asks each registered format, in :data:`REGISTRY` order, whether
it recognises an event (``recognizes(payload, event_name)``); the first that
does wins. Events no format claims (``ping``, keep-alive objects) are skipped
until one does.

Adding a wire format touches exactly: its module here (accumulator +
``FORMAT``), one line in :data:`REGISTRY`, its testing twin in
:mod:`ssekit.testing.providers` (stream builder, non-streamed result, request
reading, error body, route) with one line in that package's registry, its
tests (``tests/test_<format>.py``), and its example (``examples/format_<format>.py``).
"""
import json
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

from .._text import NO_SECRETS, Secrets, printable
from ..completion import Completion
from ..errors import IncompleteStreamError, UnsupportedFormatError
from ..sse import ServerSentEvent
from ..updates import TextUpdate, Update, new_record
from . import chat_completions, cohere, gemini, generation, messages, responses
from .base import BEARER, Accumulator, EventLike, KeyHeader, ToolResult, WireFormat
from .chat_completions import ChatCompletionsAccumulator
from .cohere import CohereAccumulator
from .gemini import GeminiAccumulator
from .generation import GenerationAccumulator
from .messages import MessagesAccumulator
from .responses import ResponsesAccumulator

if TYPE_CHECKING:  # pragma: no cover - typing-extensions is for type checkers only here
    from typing_extensions import Literal

    #: The names ``format=`` takes (a type checker refuses ``format="chat_completion"``); one per REGISTRY entry.
    FormatName = Literal["auto", "chat_completions", "responses", "messages", "generation", "cohere", "gemini"]
else:
    FormatName = str

#: Every wire format, in the order ``format="auto"`` asks them. Those recognised by a
#: discriminator (``type``, ``object``, an SSE event name) come first; Gemini, which has none and
#: is recognised by its own keys alone (``candidates``, ``usageMetadata``...), comes last, so it
#: can never take an event from the others (its recogniser also refuses any event with a ``type``).
REGISTRY = (
    messages.FORMAT,
    responses.FORMAT,
    chat_completions.FORMAT,
    generation.FORMAT,
    cohere.FORMAT,  # after those: its events are nobody else's, and its result test (message + finish_reason) is loose
    gemini.FORMAT,  # last: recognised by its keys alone
)  # type: Tuple[WireFormat, ...]

#: Format name -> its :class:`WireFormat`.
FORMATS = {spec.name: spec for spec in REGISTRY}  # type: Dict[str, WireFormat]

#: Every header name a format sends a key in (stripped on cross-origin redirects, redacted everywhere).
KEY_HEADER_NAMES = tuple(sorted({spec.key_header.name.lower() for spec in REGISTRY}))


def _recognised(payload: Any, name: Optional[str]) -> Optional[WireFormat]:
    """The first registered format that claims a decoded event or result object, if any."""
    if not isinstance(payload, dict):
        payload = {}
    for spec in REGISTRY:
        if spec.recognizes(payload, name):
            return spec
    return None


def detect_format(payload_or_event: Any) -> Optional[str]:
    """The format name of one event (``ServerSentEvent``, decoded dict or data string) or result object.

    None when the event says nothing about its format (``ping``, an error,
    ``[DONE]``, data that is not a JSON object).
    """
    name = None  # type: Optional[str]
    payload = payload_or_event
    if isinstance(payload, ServerSentEvent):
        name, payload = (payload.event if payload.event != "message" else None), payload.data
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError):
            payload = None
    spec = _recognised(payload, name)
    return spec.name if spec is not None else None


class AutoAccumulator(Accumulator):
    """An accumulator that recognises the format from the first meaningful event, then delegates.

    Events that say nothing about the format (``ping``, unknown objects) are
    skipped until then; an error event raises :class:`StreamError` at once.
    ``delegate`` is the real accumulator once the format is known.
    """

    format = "auto"
    _proper_end = "an event of a known format"
    _retryable = frozenset().union(*(spec.accumulator._retryable for spec in REGISTRY))

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
        spec = _recognised(payload, name if name != "message" else None)
        if spec is None:
            self._check_result_error(payload)
            self._skipped += 1
            return ""
        self.delegate = spec.accumulator(fallback_id=self.fallback_id, secrets=self._secrets)
        if self.progress is not None:
            self.delegate._attach(self.progress)
        return self.delegate._dispatch(payload, name)

    def _live(self) -> Accumulator:
        return self.delegate if self.delegate is not None else self

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


def key_header(format: "FormatName", url: str) -> KeyHeader:
    """How the API key goes out for *format*; with ``"auto"``, the format the URL's path names.

    The rule for ``"auto"``: a path ending in a format's ``url_suffixes``
    (``/messages`` is Anthropic's) picks that format's header; any other URL
    gets ``Authorization: Bearer``.
    """
    spec = FORMATS.get(format)
    if spec is None:
        try:
            path = urlsplit(url).path.rstrip("/")
        except ValueError:
            path = ""
        spec = next((spec for spec in REGISTRY if spec.url_suffixes and path.endswith(spec.url_suffixes)), None)
    return spec.key_header if spec is not None else BEARER


def new_accumulator(
    format: "FormatName" = "auto", *, fallback_id: Optional[str] = None, secrets: Secrets = NO_SECRETS
) -> Accumulator:
    """A fresh accumulator for *format* (a :data:`FORMATS` name or ``"auto"``); its errors redact *secrets*."""
    if format == "auto":
        return AutoAccumulator(fallback_id=fallback_id, secrets=secrets)
    spec = FORMATS.get(format)
    if spec is None:
        raise UnsupportedFormatError("unknown format %r; valid formats: %s" % (printable(str(format), 40), _format_names()))
    return spec.accumulator(fallback_id=fallback_id, secrets=secrets)


def tool_results(format: "FormatName", results: Iterable[ToolResult]) -> List[Any]:
    """What the next request appends after running the tools: *results* are ``(tool_call, output)`` or
    ``(tool_call, output, is_error)``, *output* a string or JSON-ready value.

    Chat Completions: one ``{"role": "tool"}`` message per call; Responses: one
    ``function_call_output`` item per call; Anthropic Messages: ONE user message
    holding every ``tool_result`` block (``is_error`` where a tool failed).
    """
    spec = FORMATS.get(format)
    if spec is None:
        raise UnsupportedFormatError("unknown format %r; valid formats: %s" % (printable(str(format), 40), ", ".join(sorted(FORMATS))))
    return spec.tool_results(results)


def accumulate(events: Iterable[EventLike], format: "FormatName" = "auto") -> Completion:
    """Feed every event to one accumulator and return the final Completion.

    Raises :class:`IncompleteStreamError` (with ``.partial``) when the events
    end before the format's proper end, :class:`StreamError` on a provider
    error event, :class:`UnsupportedFormatError` when no event belongs to *format*.
    """
    accumulator = new_accumulator(format)
    for event in events:
        accumulator.add(event)
    return accumulator.finish()


def iter_updates(events: Iterable[EventLike], format: "FormatName" = "auto") -> Iterator[Update]:
    """Typed progress records for the events of a stream (see :mod:`ssekit.updates`), format-neutral.

    As :func:`accumulate`, it ends with :class:`IncompleteStreamError` (with
    ``.partial``) when the events end before the format's proper end, and
    raises :class:`StreamError` on a provider error event.
    """
    accumulator = new_accumulator(format).watch()
    add, progress = accumulator.add, accumulator.progress
    assert progress is not None
    notes = progress.notes
    for event in events:
        text = add(event)
        if notes:
            yield from accumulator.updates_after(text)
        elif progress.record is None:
            if text:  # the common event: text only
                yield new_record(TextUpdate, (text,))
        elif text:
            yield from accumulator.updates_after(text)
        else:  # a tool call's common event: one fragment, its record made at once
            yield progress.record
            progress.record = None
    accumulator.finish()


def completion_from_result(
    obj: Any, *, fallback_id: Optional[str] = None, secrets: Secrets = NO_SECRETS
) -> Completion:
    """The complete Completion of a non-streamed answer (``chat.completion``, Responses
    ``response``, Anthropic ``message``, generation result, Gemini ``GenerateContentResponse``).

    A JSON error object raises :class:`StreamError`; anything else
    :class:`UnsupportedFormatError`.
    """
    if not isinstance(obj, dict):
        raise UnsupportedFormatError("a result must be a JSON object, not %s" % type(obj).__name__)
    AutoAccumulator(fallback_id=fallback_id, secrets=secrets)._check_result_error(obj)
    spec = _recognised(obj, None)
    if spec is None:
        raise UnsupportedFormatError(
            "not a result of a known format (%s); keys: %s" % (_format_names(), printable(", ".join(sorted(map(str, obj))), 200))
        )
    return spec.accumulator.from_result(obj, fallback_id=fallback_id, secrets=secrets)


__all__ = [
    "Accumulator",
    "AutoAccumulator",
    "ChatCompletionsAccumulator",
    "CohereAccumulator",
    "FORMATS",
    "FormatName",
    "GeminiAccumulator",
    "GenerationAccumulator",
    "KEY_HEADER_NAMES",
    "KeyHeader",
    "MessagesAccumulator",
    "REGISTRY",
    "ResponsesAccumulator",
    "WireFormat",
    "accumulate",
    "completion_from_result",
    "detect_format",
    "iter_updates",
    "key_header",
    "new_accumulator",
    "tool_results",
]
