"""What every wire format shares (standard library only).

A format module holds everything ssekit knows about one provider's stream:
its :class:`Accumulator` subclass (which maps the provider's events onto the
machinery here), its finish-reason and usage vocabulary, and a
:class:`WireFormat` record (how it is recognised, how the key is sent) that
the registry in :mod:`ssekit.formats` lists.

The machinery: :class:`Accumulator` decodes each event's JSON, handles
``[DONE]``, raises provider errors with what was rebuilt so far, and keeps the
answer as the provider's own output while it streams: each output item is an
:class:`Item` (a dict) whose streamed strings are :class:`Text` values. A
snapshot (:attr:`Accumulator.completion`) freezes that structure in time
proportional to the number of items, not the length of the text; the text is
joined only when the snapshot is read.
"""
import dataclasses
import json
import platform
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, Union

from .._text import NO_SECRETS, Secrets, preview, printable
from ..completion import Completion, ToolCall, Usage, Views, _new_object, completion_from_fields, usage_later
from ..errors import IncompleteStreamError, MalformedEventError, SSEKitError, StreamError, UnsupportedFormatError
from ..partial_json import PrefixReader, parse_partial_json
from ..sse import ServerSentEvent
from ..updates import FinishUpdate, Progress, TextUpdate, Update, UsageUpdate

if TYPE_CHECKING:  # pragma: no cover - typing-extensions is for type checkers only here
    from typing_extensions import Final, Protocol

    class SupportsEvent(Protocol):
        """Anything with an SSE event's ``event`` and ``data`` (another library's event type)."""

        @property
        def event(self) -> str: ...

        @property
        def data(self) -> str: ...

    from .resumption import Cursor


#: What :meth:`Accumulator.add` accepts: an event (or a look-alike), its decoded JSON, or its data.
EventLike = Union[ServerSentEvent, Dict[str, Any], str, "SupportsEvent"]

#: A read-only empty mapping: the stand-in for a field that is missing or not an object.
EMPTY = MappingProxyType({})  # type: Mapping[str, Any]

#: Most choices (``n``) one stream may open; past it the stream is refused (a hostile stream could open millions).
MAX_CHOICES = 128  # type: Final
#: Most output items (content blocks, output items, tool calls) one choice may hold (some 25 MB at most).
MAX_ITEMS = 32768  # type: Final

_loads = json.loads


def _loads_whole(data: str, index: int) -> Tuple[Any, int]:
    """PyPy's fast path: its ``scan_once`` is pure Python, its ``json.loads`` is not."""
    return _loads(data), len(data)


# CPython: the stdlib scanner json.loads ends in, called directly: for the common
# event (a JSON object with nothing around it) this halves the decoding overhead.
_scan = (
    _loads_whole if platform.python_implementation() == "PyPy" else json.JSONDecoder().scan_once  # type: ignore[attr-defined]
)  # type: Callable[[str, int], Tuple[Any, int]]


def as_dict(value: Any) -> Mapping[str, Any]:
    """*value* if it is a JSON object, else :data:`EMPTY` (wrong types are ignored)."""
    return value if isinstance(value, dict) else EMPTY


def as_str(value: Any) -> Optional[str]:
    """*value* if it is a string, else None."""
    return value if isinstance(value, str) else None


def as_list(value: Any) -> List[Any]:
    """*value* if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def dicts(value: Any) -> List[Mapping[str, Any]]:
    """The JSON objects of *value* if it is an array (anything else in it is skipped), else none."""
    return [member for member in value if isinstance(member, dict)] if isinstance(value, list) else []


def as_int(value: Any) -> Optional[int]:
    """*value* if it is an integer (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def int_at(raw: Mapping[str, Any], *path: str) -> Optional[int]:
    """The integer at *path* in nested objects (``int_at(u, "output_tokens_details", "reasoning_tokens")``)."""
    value = raw  # type: Any
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return as_int(value)


def first_int(raw: Mapping[str, Any], *keys: str) -> Optional[int]:
    """The integer under the first of *keys* that holds one."""
    for key in keys:
        value = as_int(raw.get(key))
        if value is not None:
            return value
    return None


def sum_of(*counts: Optional[int]) -> Optional[int]:
    """The sum of the counts that were reported, None when none was."""
    known = [count for count in counts if count is not None]
    return sum(known) if known else None


# --- the native output, as it streams --------------------------------------------


_new_tuple = tuple.__new__


class TextView(tuple):  # type: ignore[type-arg]
    """A :class:`Text` frozen at one moment: ``(text, its pieces list, how many pieces)``.

    A tuple, made in one step, since a snapshot takes one per growing text;
    the pieces list only ever grows past the count.
    """

    __slots__ = ()

    @property
    def _text(self) -> "Text":
        return self[0]  # type: ignore[no-any-return]

    @property
    def started(self) -> bool:
        """Whether the string had arrived (an empty one included) when the view was taken."""
        return self[2] > 0  # type: ignore[no-any-return]

    def value(self) -> str:
        """The string this view stands for, joined from the text's last join on (see :class:`Text`)."""
        text, pieces, count = self
        if text.pieces is pieces:
            joined, joined_count = text.joined
            if joined_count <= count:
                if joined_count < count:
                    joined = joined + "".join(pieces[joined_count:count]) if joined_count else "".join(pieces[:count])
                    text.joined = (joined, count)
                return joined  # type: ignore[no-any-return]
        return "".join(pieces[:count])

    def partial_json(self, value: str) -> Any:
        """What this view's *value* says as a JSON prefix, read by its text's one :class:`PrefixReader`.

        Views read in the order the text grew parse only their new part; a view
        of a text replaced since (``Text.set``) is parsed alone.
        """
        text = self._text
        if text.pieces is not self[1]:
            return parse_partial_json(value)
        if text.reader is None:
            text.reader = PrefixReader()
        return text.reader.value(value)


class JSONTextView(TextView):
    """A :class:`JSONText` frozen in time; :func:`resolve` parses it (the raw text while it is not valid JSON yet)."""

    __slots__ = ()


class Text:
    """A string that grows by pieces, appended to ``pieces``; a snapshot is the count of pieces, joined when read.

    A string that never arrived (None in the output) has no pieces; an empty
    one has ``[""]``. ``joined`` is the latest join and the count it covers,
    so a long answer read after every event is joined once, not once per read.
    ``reader`` parses it as JSON for :meth:`TextView.partial_json`, from the first time that is asked.
    """

    __slots__ = ("pieces", "joined", "reader")
    _view_class = TextView  # type: ClassVar[Type[TextView]]

    def __init__(self, initial: Any = None) -> None:
        self.pieces = [initial] if isinstance(initial, str) else []  # type: List[str]
        self.joined = ("", 0)  # type: Tuple[str, int]
        self.reader = None  # type: Optional[PrefixReader]

    def add(self, piece: Any) -> str:
        """Append *piece* if it is a string (an empty one starts the string); return what was added."""
        if piece.__class__ is str:
            self.pieces.append(piece)
            return piece
        return ""

    def set(self, value: Any) -> None:
        """Replace the whole string (a ``done`` event's complete value); a new list keeps old snapshots intact.

        The usual complete value repeats what streamed: then nothing is replaced.
        """
        if isinstance(value, str):
            if self.pieces and value == self.value():
                return
            self.pieces = [value]
            self.joined = ("", 0)
            self.reader = None

    def __bool__(self) -> bool:
        return any(self.pieces)

    def view(self) -> "TextView":
        """This string as it is now, to be joined when read."""
        pieces = self.pieces
        return _new_tuple(self._view_class, (self, pieces, len(pieces)))

    def value(self) -> str:
        """The string as it is now."""
        return self.view().value()


class JSONText(Text):
    """Streamed JSON text (Anthropic's ``input_json_delta``): the output holds the parsed value."""

    __slots__ = ()
    _view_class = JSONTextView


class Item(dict):  # type: ignore[type-arg]
    """One output item while it streams: provider fields verbatim; streamed strings as :class:`Text`;
    lists and nested items of ssekit's own. Provider values are never mutated, only replaced."""


class _Frozen(dict):  # type: ignore[type-arg]
    """An :class:`Item` frozen by :func:`freeze`."""


class _FrozenList(list):  # type: ignore[type-arg]
    """A list of an :class:`Item`, frozen by :func:`freeze`."""


def freeze(value: Any) -> Any:
    """A snapshot of *value* in time proportional to the items, not to the text (which stays unjoined)."""
    freezer = _FREEZERS.get(value.__class__)
    return value if freezer is None else freezer(value)


def _freeze_item(item: Item) -> "_Frozen":
    return _Frozen([(key, freeze(member)) for key, member in item.items()])


def _freeze_list(members: List[Any]) -> "_FrozenList":
    return _FrozenList([freeze(member) for member in members])


#: How each kind of live value is frozen (by exact type: snapshots are taken often); other values are kept
#: as they are, since provider values are never changed in place, only replaced.
_FREEZERS = {Text: Text.view, JSONText: JSONText.view, Item: _freeze_item, list: _freeze_list}  # type: Dict[type, Callable[[Any], Any]]


def views_in(frozen: Any, found: Optional[List[TextView]] = None) -> List[TextView]:
    """Every text view in what a format's ``_freeze`` returned, in order (appended to *found*)."""
    found = [] if found is None else found
    if isinstance(frozen, TextView):
        found.append(frozen)
    elif frozen.__class__ in _FROZEN_CONTAINERS:
        for member in frozen.values() if frozen.__class__ is _Frozen else frozen:
            views_in(member, found)
    return found


def regrown(frozen: Any, fresh: Mapping[int, TextView]) -> Any:
    """*frozen* with each text view whose id *fresh* holds replaced by the newer view it maps to."""
    if isinstance(frozen, TextView):
        return fresh.get(id(frozen), frozen)
    kind = frozen.__class__
    if kind is _Frozen:
        return _Frozen([(key, regrown(member, fresh)) for key, member in frozen.items()])
    if kind in _FROZEN_CONTAINERS:
        return kind([regrown(member, fresh) for member in frozen])
    return frozen


#: What a format's ``_freeze`` builds around the views: frozen items and lists, and plain lists and tuples of them.
_FROZEN_CONTAINERS = frozenset([_Frozen, _FrozenList, list, tuple])


def resolve(value: Any) -> Any:
    """A frozen value as plain JSON data: texts joined (None if never sent), JSON texts parsed."""
    if isinstance(value, TextView):
        if not value.started:
            return None
        text = value.value()
        if isinstance(value, JSONTextView):
            return _parsed_or_raw(text)
        return text
    if isinstance(value, _Frozen):
        return {key: resolve(member) for key, member in value.items()}
    if isinstance(value, _FrozenList):
        return [resolve(member) for member in value]
    return value


def _parsed_or_raw(text: str) -> Any:
    if not text.strip():
        return {}
    try:
        return _loads(text)
    except (ValueError, RecursionError):
        return text


def text_of(value: Any) -> str:
    """The string a frozen or plain value stands for ("" when it is not a string)."""
    if isinstance(value, TextView):
        return value.value()
    return value if isinstance(value, str) else ""


def raw_text_of(value: Any) -> str:
    """The JSON text as sent for a frozen JSON text, or the JSON encoding of a whole value."""
    if isinstance(value, TextView):
        return value.value()
    if isinstance(value, str):
        return value
    if not value:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return ""


def list_in(item: Item, key: str) -> List[Any]:
    """The list *item* keeps under *key*, made (or made anew, over a value of the wrong type) if needed."""
    value = item.get(key)
    if not isinstance(value, list):
        value = item[key] = []
    return value


class Choice:
    """One answer (one choice) as it streams: its output items in order, keyed for O(1) lookups."""

    __slots__ = ("items", "keyed", "tool_calls", "raw_finish_reason", "progress")

    def __init__(self) -> None:
        self.items = []  # type: List[Any]
        self.keyed = {}  # type: Dict[Any, Item]
        self.tool_calls = 0  # tool calls among the items, for ``finish_reason``
        self.raw_finish_reason = None  # type: Optional[str]
        self.progress = None  # type: Optional[Progress]  # the first choice's, while watched

    def register(self, key: Any, item: Item, accumulator: "Accumulator") -> Item:
        """Find *item* under *key* from now on (at most :data:`MAX_ITEMS` per choice)."""
        if len(self.keyed) >= MAX_ITEMS:
            raise accumulator.malformed("more than %d output items or tool calls in one answer" % MAX_ITEMS)
        self.keyed[key] = item
        return item

    def add(self, key: Any, item: Item, accumulator: "Accumulator") -> Item:
        """Register *item* under *key* and append it to the output items."""
        self.items.append(self.register(key, item, accumulator))
        return item

    def finish(self, raw_reason: Any) -> None:
        """Record the provider's finish/stop reason (non-strings are ignored)."""
        if isinstance(raw_reason, str) and raw_reason and raw_reason != self.raw_finish_reason:
            self.raw_finish_reason = raw_reason
            if self.progress is not None:
                self.progress.finish()


# --- what a format declares --------------------------------------------------------


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


@dataclasses.dataclass(frozen=True)
class WireFormat:
    """Everything the rest of ssekit asks a format module; each module defines one as ``FORMAT``.

    *recognizes* tells from one decoded event (or non-streamed result) and its
    SSE event name whether it is this format's (``format="auto"`` asks the
    registered formats in order). *tool_results* turns ``(tool_call, output[,
    is_error])`` results into what the next request appends (see
    :func:`ssekit.tool_results`). *url_suffixes* are URL path endings that name
    the format, used to pick the key header under ``"auto"``. *history_key*
    is the request key whose list holds the conversation, which a tool loop
    extends (None for a format without tool calls). *resume* gives the
    :class:`~ssekit.formats.resumption.Cursor` that continues a broken stream of a
    request (``resume(url, json_body)``; None when that request cannot be resumed),
    None for a format whose streams never can.
    """

    name: str
    accumulator: "Type[Accumulator]"
    recognizes: Callable[[Mapping[str, Any], Optional[str]], bool]
    tool_results: "Callable[[Iterable[ToolResult]], List[Any]]"
    key_header: KeyHeader = BEARER
    url_suffixes: Tuple[str, ...] = ()
    history_key: Optional[str] = None
    resume: "Optional[Callable[[str, Any], Optional[Cursor]]]" = None


# --- the accumulator ---------------------------------------------------------------


class Accumulator:
    """Rebuilds a :class:`Completion` from the events of one stream, one event at a time.

    ``add(event)`` takes a :class:`~ssekit.sse.ServerSentEvent`, an already
    decoded ``dict`` or the data string (``"[DONE]"`` included) and returns the
    text the event added. ``completion`` is a snapshot at any moment;
    ``finish()`` returns the final one or raises :class:`IncompleteStreamError`.
    *fallback_id* is the id used when the body carries none (e.g. the
    ``x-request-id`` header). Provider error events raise :class:`StreamError`,
    data that is not JSON raises :class:`MalformedEventError`; both carry
    ``.partial`` and quote nothing of *secrets*. Fields of unexpected types are
    ignored, never crash. A stream none of whose events belongs to the format
    fails in ``finish()`` with :class:`UnsupportedFormatError`.
    """

    #: The format name, as used by :func:`ssekit.formats.accumulate`.
    format = ""  # type: ClassVar[str]
    #: Event type -> handler method name, for formats whose events carry a type.
    _events = {}  # type: ClassVar[Dict[str, str]]
    #: What a proper end of this format looks like, for the IncompleteStreamError message.
    _proper_end = "data: [DONE]"  # type: ClassVar[str]
    #: The provider's finish reasons -> ``stop`` / ``length`` / ``tool_calls`` / ``content_filter``.
    _finish_reasons = {}  # type: ClassVar[Mapping[str, str]]
    #: In-stream error types or codes that are passing (overloaded, rate limited): ``StreamError.retryable``.
    _retryable = frozenset()  # type: ClassVar[FrozenSet[str]]

    def __init__(self, *, fallback_id: Optional[str] = None, secrets: Secrets = NO_SECRETS) -> None:
        self.fallback_id = fallback_id
        self._secrets = secrets
        self.id = None  # type: Optional[str]
        self.model = None  # type: Optional[str]
        self._usage = None  # type: Optional[Dict[str, Any]]
        self._usage_final = False
        self._extra = {}  # type: Dict[str, Any]
        self._ended = False
        self._recognized = False  # an event of this format arrived
        self._foreign = None  # type: Optional[Mapping[str, Any]]  # the first event that was not
        self._choices = {}  # type: Dict[int, Choice]
        self._main = self._choice(0)
        self._handlers = {name: getattr(self, method) for name, method in self._events.items()}
        self._usage_built = None  # type: Optional[Tuple[Any, bool, Usage]]  # the last Usage built, and from what
        #: What the next snapshot may share with the last (see :class:`_Epoch`). The base ``_dispatch``
        #: puts it aside in ``_kept`` for each event, and a format's fast path that only grew a text (and
        #: perhaps the usage) puts it back. A format with a ``_dispatch`` of its own does the same (Gemini),
        #: or ends the sharing in each of its other paths (Chat Completions, whose text and tool-argument
        #: chunks then pay nothing for it). ``[DONE]`` and foreign events end it here.
        self._epoch = None  # type: Optional[_Epoch]
        self._kept = None  # type: Optional[_Epoch]
        #: Where the format reports typed progress once :meth:`watch` was called (None: the plain text path).
        self.progress = None  # type: Optional[Progress]

    # --- the public API -------------------------------------------------

    def add(self, event: EventLike) -> str:
        """Feed one event; return the text it added to the answer ("" if none)."""
        if event.__class__ is ServerSentEvent:
            name, data = event[0], event[1]  # type: Optional[str], str  # (by index: 3.7's field properties cost more)
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
        if payload.__class__ is not dict:
            raise self.malformed("%s event data is JSON but not an object: %s" % (self.format, preview(data)), data)
        if name == "error":
            self._raise_error(payload)
        return self._dispatch(payload, name)

    def watch(self) -> "Accumulator":
        """Report typed progress from now on (see :meth:`updates_after`); returns the accumulator."""
        if self.progress is None:
            self._attach(Progress())
        return self

    def _attach(self, progress: Progress) -> None:
        self.progress = self._main.progress = progress

    def updates_after(self, text: str) -> List[Update]:
        """The typed progress records of the event just added, which returned *text* (see :mod:`ssekit.updates`).

        Needs :meth:`watch` before the first event. Text, reasoning and tool
        calls come as the format reported them, then usage and the finish
        reason if the event changed them. While ``progress.notes`` is empty
        and ``progress.record`` None, the event added text only, and the
        records are just ``[TextUpdate(text)]``; when only ``progress.record``
        is set and no text came, that record is all (the stream loops check
        both cases first).
        """
        progress = self.progress
        if progress is None:
            raise SSEKitError("call watch() before adding events whose updates you want")
        updates = [TextUpdate(text)] if text else []  # type: List[Update]
        if not progress.notes and progress.record is None:
            return updates
        live = self._live()
        updates.extend(progress.records(lambda: live.completion.tool_calls))
        if progress.usage_changed:
            progress.usage_changed = False
            said = (live._usage, live._usage_final)
            if said != progress.usage_said:  # (Gemini repeats its running counts in every chunk)
                progress.usage_said = said
                updates.append(UsageUpdate(live._build_usage()))
        if progress.finished:
            progress.finished = False
            updates.append(FinishUpdate(live._finish_reason(live._main), live._main.raw_finish_reason))
        return updates

    def _live(self) -> "Accumulator":
        """The accumulator whose state the stream builds (a delegate's, for format detection)."""
        return self

    def _decode(self, data: str) -> Any:
        """The slow path of JSON decoding: None for ``[DONE]`` (which ends the stream) and empty data."""
        stripped = data.strip()
        if stripped == "[DONE]":
            self._ended = True
            self._epoch = None
            if self.progress is not None:
                self.progress.all_done()
            return None
        if not stripped:
            return None
        try:
            return _loads(data)
        except (ValueError, RecursionError) as exc:
            raise self.malformed(
                "%s event data is not valid JSON (%s): %s" % (self.format, exc, preview(data)), data
            ) from None

    @property
    def complete(self) -> bool:
        """True once the stream ended properly for its format."""
        return self._ended and (self._recognized or self._foreign is None)

    @property
    def ended(self) -> bool:
        """True once the format's end marker arrived (``[DONE]``, ``message_stop``...): stop reading."""
        return self._ended

    @property
    def completion(self) -> Completion:
        """A fresh snapshot of everything rebuilt so far (cheap: the text is joined when read)."""
        epoch = self._epoch
        if epoch is not None:  # only texts (and the usage) changed since the last: share it (see _Epoch)
            # (written out, not a call of _Epoch's: a progress display takes a snapshot after every event)
            if epoch.raw_usage is not self._usage:
                epoch.usage_changed(self)
            made = _new_object(Completion)
            made._fields = epoch.fields
            lists, texts = epoch.lists, epoch.texts  # (then the texts' sizes now: Completion._resolved makes the views)
            if texts == 1:
                made._resolve = (epoch, len(lists[0]))
            elif texts == 2:
                made._resolve = (epoch, len(lists[0]), len(lists[1]))
            else:
                made._resolve = (epoch,) + tuple(map(len, lists))
            return made
        complete = self.complete
        if len(self._choices) < 2:
            return self._snapshot(self._main, complete, whole=True)
        choices = [self._snapshot(self._choices[index], complete) for index in sorted(self._choices)]
        return self._snapshot(self._main, complete, whole=True, choices=choices)

    def finish(self) -> Completion:
        """The final Completion; :class:`IncompleteStreamError` if the stream ended early,
        :class:`UnsupportedFormatError` if none of its events belonged to this format."""
        completion = self.completion
        if self._foreign is not None and not self._recognized:
            from . import detect_format  # the registry imports this module

            looks_like = detect_format(dict(self._foreign))
            raise UnsupportedFormatError(
                "no event of this stream is a %s event%s; pass the right format= or \"auto\""
                % (self.format, "; it looks like %s" % looks_like if looks_like else ""),
                partial=completion,
            )
        if not completion.complete:
            raise IncompleteStreamError(
                "%s stream ended before its proper end (%s): %d characters of text and %d tool call(s) "
                "received so far are in .partial" % (self.format, self._proper_end, len(completion.text), len(completion.tool_calls)),
                partial=completion,
            )
        return completion

    @classmethod
    def from_result(
        cls, result: Mapping[str, Any], *, fallback_id: Optional[str] = None, secrets: Secrets = NO_SECRETS
    ) -> Completion:
        """The complete Completion of a non-streamed result object of this format."""
        accumulator = cls(fallback_id=fallback_id, secrets=secrets)
        accumulator._check_result_error(result)
        accumulator._load_result(result)
        accumulator._usage_final = True
        accumulator._recognized = True
        accumulator._ended = True
        return accumulator.completion

    # --- what formats override --------------------------------------------

    def _dispatch(self, payload: Dict[str, Any], name: Optional[str]) -> str:
        """Route one decoded event to its handler by ``type`` (or the SSE event name)."""
        self._kept = self._epoch  # (put back by a handler's fast path: see _epoch)
        self._epoch = None
        kind = payload.get("type")
        if kind.__class__ is not str:
            kind = name
        handler = self._handlers.get(kind)  # type: ignore[arg-type]
        if handler is None:
            return self._untyped(payload)
        if not self._recognized:
            self._recognized = True
            self._kept = None  # (``complete`` may change: not an event that only grew)
        return handler(payload)  # type: ignore[no-any-return]

    def _untyped(self, payload: Dict[str, Any]) -> str:
        """Handle an event whose type this format does not know: remembered (see :meth:`finish`), ignored."""
        self._epoch = None
        if self._foreign is None and payload.get("type") not in ("ping", "error"):
            self._foreign = payload
        return ""

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """Fill the state from a complete non-streamed result (overridden per format)."""
        raise NotImplementedError

    def _freeze(self, choice: Choice) -> Any:
        """What a snapshot keeps of *choice*: its output items, frozen (see :func:`freeze`)."""
        return [freeze(item) for item in choice.items]

    @staticmethod
    def _views(frozen: Any) -> Views:
        """Text, reasoning, refusal, tool calls and output worked out from what :meth:`_freeze` kept."""
        raise NotImplementedError

    @staticmethod
    def _usage_of(raw: Mapping[str, Any]) -> Dict[str, Optional[int]]:
        """The normalised counts of the provider's usage object (overridden per format)."""
        raise NotImplementedError

    @staticmethod
    def _to_messages(completion: Completion, reasoning: Optional[bool]) -> List[Any]:
        """The assistant turn in the format's request shape (overridden per format)."""
        raise NotImplementedError

    def _check_result_error(self, result: Mapping[str, Any]) -> None:
        """Raise StreamError when a result object is an error object."""
        if result.get("error") or result.get("type") == "error":
            self._raise_error(result)

    # --- shared machinery -------------------------------------------------

    def malformed(self, message: str, data: str = "") -> MalformedEventError:
        """A :class:`MalformedEventError` with what was rebuilt so far and nothing of the secrets."""
        return MalformedEventError(self._secrets.redact(message), data=self._secrets.redact(data), partial=self.completion)

    def _choice(self, index: int) -> Choice:
        """The state of choice *index*, created on first use (at most :data:`MAX_CHOICES`)."""
        choice = self._choices.get(index)
        if choice is None:
            if len(self._choices) >= MAX_CHOICES:
                raise self.malformed("more than %d choices in one stream" % MAX_CHOICES)
            choice = self._choices[index] = self._new_choice()
            self._epoch = self._kept = None  # (snapshots of several choices share nothing)
        return choice

    def _new_choice(self) -> Choice:
        """A new choice's state (formats with per-choice items of their own override it)."""
        return Choice()

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

    def _take_usage(self, usage: Any, *, merge: bool = False, final: bool = False) -> None:
        """Keep the latest usage object (*merge*: update the known counts); *final*: the provider's last word."""
        if not isinstance(usage, dict):
            return
        if merge and self._usage:  # (a new dict: a usage record made earlier keeps its counts)
            self._usage = dict(self._usage, **{key: value for key, value in usage.items() if value is not None})
        else:
            self._usage = dict(usage)
        self._usage_final = final
        if self.progress is not None:
            self.progress.usage()

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
        if not isinstance(kind, str) and error:
            kind = detail.get("status")  # Google's error objects name their kind "status" (UNAVAILABLE...)
        if kind == "error" or not isinstance(kind, str):
            kind = None
        secrets = self._secrets
        code = detail.get("code")
        # A code is a name (rate_limit_exceeded) or, in Google's errors, the HTTP status (503).
        named = code if isinstance(code, str) else str(code) if as_int(code) is not None else None
        raise StreamError(
            secrets.redact(printable(message, 1000)),
            type=kind,
            code=secrets.redact_value(code),
            body=secrets.redact_value(dict(body)),
            retryable=kind in self._retryable or named in self._retryable,
            partial=self.completion,
        )

    def _build_usage(self) -> Usage:
        """The usage so far; built again only once the provider reported new usage (snapshots share it)."""
        built = self._usage_built
        if built is None or built[0] is not self._usage or built[1] != self._usage_final:
            built = self._usage_built = (self._usage, self._usage_final, usage_from(self._usage_of, self._usage, self._usage_final))
        return built[2]

    def _finish_reason(self, choice: Choice) -> Optional[str]:
        """*choice*'s finish reason in ssekit's words (``stop`` with tool calls is ``tool_calls``)."""
        raw_reason = choice.raw_finish_reason
        reason = self._finish_reasons.get(raw_reason, raw_reason) if raw_reason is not None else None
        return "tool_calls" if reason == "stop" and choice.tool_calls else reason

    def _snapshot(self, choice: Choice, complete: bool, *, whole: bool = False, choices: Sequence[Completion] = ()) -> Completion:
        """One choice as a Completion; *whole* adds what belongs to the whole stream (usage, extra, *choices*)."""
        raw_reason = choice.raw_finish_reason
        reason = self._finish_reason(choice)
        output = self._freeze(choice)
        views = self._views
        completion = Completion(
            views=lambda: views(output),
            turn=self._to_messages,
            usage=self._build_usage() if whole else None,
            finish_reason=reason,
            id=self.id or self.fallback_id,
            model=self.model,
            complete=complete,
            raw_finish_reason=raw_reason,
            format=self.format or None,
            choices=choices,
            extra=self._extra if whole else None,
        )
        if whole and not choices:
            self._epoch = _Epoch(output, views, completion._fields, self._usage, self._usage_final)
        return completion


class _Epoch:
    """What the single-choice snapshots of a run of events that only grew texts (and the usage) share.

    A progress display takes a snapshot after every event; most events only
    append to a text already in the output. Their snapshots share the first
    one's frozen output and fields, with the size of each text (its views made
    when read, by calling the epoch with the sizes) and the usage as it is.
    ``Accumulator.completion`` takes them.
    """

    __slots__ = ("output", "make_views", "views", "lists", "texts", "fields", "rest", "raw_usage", "final_usage")

    def __init__(self, output: Any, make_views: Callable[[Any], Views], fields: Tuple[Any, ...], raw_usage: Any, final_usage: bool) -> None:
        self.output = output
        self.make_views = make_views  # the format's Accumulator._views
        self.views = views_in(output)
        self.lists = [view[1] for view in self.views]  # the texts' pieces (a text is not replaced in an epoch)
        self.texts = len(self.lists)
        self.fields = fields
        self.rest = fields[1:]  # (all but the usage, which may change: Gemini's running counts)
        self.raw_usage = raw_usage  # the raw usage the fields' Usage was built from, and its finality
        self.final_usage = final_usage

    def usage_changed(self, accumulator: Accumulator) -> None:
        """Take the usage the provider reported since (replaced whenever it or its finality changes, never
        changed in place: see ``Accumulator._take_usage``)."""
        raw, final = self.raw_usage, self.final_usage = accumulator._usage, accumulator._usage_final
        self.fields = (usage_later(usage_from, accumulator._usage_of, raw, final),) + self.rest

    def __call__(self, *counts: int) -> Views:
        """The views of a snapshot whose texts had grown to *counts* pieces."""
        grown = {id(view): _new_tuple(view.__class__, (view[0], view[1], count)) for view, count in zip(self.views, counts)}
        return self.make_views(regrown(self.output, grown))


#: One tool result: ``(tool_call, output)`` or ``(tool_call, output, is_error)``.
ToolResult = Union[Tuple[ToolCall, Any], Tuple[ToolCall, Any, bool]]


def usage_from(usage_of: Callable[[Mapping[str, Any]], Dict[str, Optional[int]]], raw: Optional[Dict[str, Any]], final: bool) -> Usage:
    """The Usage of the provider's usage object *raw* (None: none yet), read by a format's *usage_of*."""
    if raw is None:
        return Usage()
    counts = usage_of(raw)
    given, made = counts.get("input_tokens"), counts.get("output_tokens")
    if counts.get("total_tokens") is None and given is not None and made is not None:
        counts["total_tokens"] = given + made
    return Usage(final=final, raw=dict(raw), **counts)


def tool_results_of(results: Iterable[ToolResult]) -> List[Tuple[ToolCall, Any, bool]]:
    """*results* as ``(call, output, is_error)`` triples; anything else is an :class:`SSEKitError`."""
    triples = []
    for result in results:
        if not isinstance(result, tuple) or len(result) not in (2, 3) or not isinstance(result[0], ToolCall):
            raise SSEKitError("a tool result is (tool_call, output) or (tool_call, output, is_error), not %r" % (result,))
        triples.append((result[0], result[1], bool(result[2]) if len(result) == 3 else False))
    return triples


def output_text(output: Any) -> str:
    """A tool's output as the text an API takes: a string as it is, anything else as JSON."""
    if isinstance(output, str):
        return output
    try:
        return json.dumps(output, ensure_ascii=False, default=str)
    except (ValueError, RecursionError) as exc:
        raise SSEKitError("a tool output could not be encoded as JSON: %s" % exc) from None


def error_text(output: Any) -> str:
    """A failed tool's output for APIs without an error flag: the text says it is an error."""
    text = output_text(output)
    return text if text.lower().startswith("error") else "Error: " + text


def tool_call(index: int, id: Any, name: Any, arguments: Any) -> ToolCall:
    """A :class:`ToolCall` from frozen or plain fields (the arguments as sent).

    Streamed arguments give the call their view's parser, so ``partial_arguments()``
    after every fragment parses each fragment once.
    """
    call = ToolCall(index, id if isinstance(id, str) and id else None, name if isinstance(name, str) and name else None,
                    raw_text_of(arguments))  # fmt: skip
    if isinstance(arguments, TextView):
        object.__setattr__(call, "_read_partial", arguments.partial_json)  # (a frozen dataclass's field of its own)
    return call


def joined(pieces: Iterator[str], separator: str = "") -> str:
    """The non-empty pieces joined by *separator*."""
    return separator.join(piece for piece in pieces if piece)
