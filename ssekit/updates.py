"""Typed progress: what each event added to the answer, in records that are the same for every format.

A UI that shows ``calling get_weather(city="Par`` should not need to know the
wire format. :meth:`ssekit.stream.CompletionStream.updates` and
:func:`ssekit.iter_updates` yield one small read-only record per piece of
progress; each has a ``kind``:

=====================  =================================================================
``"text"``             :class:`TextUpdate`: answer text (what iterating the stream yields)
``"reasoning"``        :class:`ReasoningUpdate`: visible reasoning (thinking, summaries)
``"tool_call_start"``  :class:`ToolCallStart`: a tool call opened (its id and name)
``"tool_call_delta"``  :class:`ToolCallDelta`: a fragment of its arguments, and the arguments parsed so far
``"tool_call_done"``   :class:`ToolCallDone`: the complete :class:`~ssekit.completion.ToolCall`
``"usage"``            :class:`UsageUpdate`: the provider reported token counts
``"finish"``           :class:`FinishUpdate`: the finish reason arrived
=====================  =================================================================

Only the first answer (choice 0) is reported; the other choices of an
``n > 1`` stream are in the :class:`~ssekit.completion.Completion` as always.
This module is standard library only: the formats report to a
:class:`Progress` while they are watched, and cost nothing otherwise.
"""
import threading
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, List, NamedTuple, Optional, Tuple, Union

from .completion import Completion, ToolCall, Usage
from .errors import PartialJSONError
from .partial_json import PartialJSONParser

if TYPE_CHECKING:  # pragma: no cover - typing-extensions is for type checkers only here
    from typing_extensions import Literal

__all__ = [
    "Update",
    "TextUpdate",
    "ReasoningUpdate",
    "ToolCallStart",
    "ToolCallDelta",
    "ToolCallDone",
    "UsageUpdate",
    "FinishUpdate",
    "Progress",
    "update_to_dict",
]


class TextUpdate(NamedTuple):
    """Answer text, as iterating the stream yields it."""

    text: str

    @property
    def kind(self) -> "Literal['text']":
        return "text"


class ReasoningUpdate(NamedTuple):
    """Visible reasoning: thinking text, reasoning summaries, a tool plan."""

    text: str

    @property
    def kind(self) -> "Literal['reasoning']":
        return "reasoning"


class ToolCallStart(NamedTuple):
    """A tool call opened. *tool_index* is the :attr:`ToolCall.index <ssekit.completion.ToolCall.index>` it will have."""

    tool_index: int
    id: Optional[str]
    name: Optional[str]

    @property
    def kind(self) -> "Literal['tool_call_start']":
        return "tool_call_start"


class ToolCallDelta:
    """A fragment of a tool call's arguments; *arguments* is what they say so far.

    The arguments are parsed when first read, by one incremental parser per
    call (see :class:`~ssekit.partial_json.PartialJSONParser`): records read
    in the order they came cost each fragment once, and a UI that shows only
    text pays nothing for them. Each record keeps what it said: its value is
    a snapshot (:meth:`~ssekit.partial_json.PartialJSONParser.snapshot`: the
    containers still open are copied, the closed ones shared, so do not
    change them), and a record read after later ones parses its own prefix.
    If the arguments stop being JSON, they keep what came before the
    offending character and *valid* is False (the call is still reported
    whole by :class:`ToolCallDone`). Read-only, compared by its six fields;
    records may be read from several threads. Those of a stream are of a
    private subclass that is cheaper to make: test them with ``kind`` or
    ``isinstance``, not ``type(record) is ToolCallDelta``.
    """

    __slots__ = ("_fields", "_said")

    def __init__(self, tool_index: int, id: Optional[str], name: Optional[str], fragment: str, arguments: Any, valid: bool = True) -> None:
        #: The four public fields, then (until read) the call whose first fragments it says, and how many.
        self._fields = (tool_index, id, name, fragment, None, 0)  # type: Tuple[int, Optional[str], Optional[str], str, Optional[_Call], int]
        self._said = (arguments, valid)  # type: Optional[Tuple[Any, bool]]

    kind = "tool_call_delta"  # type: ClassVar[Literal['tool_call_delta']]

    @property
    def tool_index(self) -> int:
        return self._fields[0]

    @property
    def id(self) -> Optional[str]:
        return self._fields[1]

    @property
    def name(self) -> Optional[str]:
        return self._fields[2]

    @property
    def fragment(self) -> str:
        return self._fields[3]

    @property
    def arguments(self) -> Any:
        """The arguments parsed so far (a snapshot: do not change it)."""
        return self._read()[0]

    @property
    def valid(self) -> bool:
        """False once the arguments stopped being JSON."""
        return self._read()[1]

    def _read(self) -> Tuple[Any, bool]:
        said = self._said
        if said is None:
            fields = self._fields
            call = fields[4]
            if call is None:  # another thread read it in between (it sets _said first)
                return self._read()
            said = self._said = call.parsed(fields[5])
            self._fields = fields[:4] + (None, 0)  # (the record no longer holds the call's fragments)
        return said

    def _asdict(self) -> Dict[str, Any]:
        """The six fields by name, as a NamedTuple's ``_asdict()``."""
        return dict(zip(("tool_index", "id", "name", "fragment", "arguments", "valid"), self._fields[:4] + self._read()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ToolCallDelta):
            return NotImplemented
        return self._fields[:4] == other._fields[:4] and self._read() == other._read()

    __hash__ = None  # type: ignore[assignment]  # (the arguments are a dict or list)

    def __repr__(self) -> str:
        return "ToolCallDelta(%s)" % ", ".join("%s=%r" % item for item in self._asdict().items())


class ToolCallDone(NamedTuple):
    """A tool call whose arguments are complete."""

    tool_call: ToolCall

    @property
    def kind(self) -> "Literal['tool_call_done']":
        return "tool_call_done"


class UsageUpdate(NamedTuple):
    """Token counts as the provider reported them (``usage.final`` tells the last word from a running count)."""

    usage: Usage

    @property
    def kind(self) -> "Literal['usage']":
        return "usage"


class FinishUpdate(NamedTuple):
    """The finish reason, normalised as :attr:`Completion.finish_reason <ssekit.completion.Completion.finish_reason>` is, and the provider's own."""

    finish_reason: Optional[str]
    raw_finish_reason: Optional[str]

    @property
    def kind(self) -> "Literal['finish']":
        return "finish"


# Every record's ``kind`` is read for every record, so at run time it is a plain class attribute rather
# than the property the type checkers see (a NamedTuple's body may hold only fields and methods).
for _record in (TextUpdate, ReasoningUpdate, ToolCallStart, ToolCallDone, UsageUpdate, FinishUpdate):
    setattr(_record, "kind", _record.__dict__["kind"].fget(None))
del _record

#: ``new_record(TextUpdate, (text,))`` makes a record without NamedTuple's Python-level constructor:
#: the text record of the common event is made this way, once per event on the updates path.
new_record = tuple.__new__

#: Any typed progress record.
Update = Union[TextUpdate, ReasoningUpdate, ToolCallStart, ToolCallDelta, ToolCallDone, UsageUpdate, FinishUpdate]


class _StreamedDelta(ToolCallDelta):
    """The :class:`ToolCallDelta` of a fragment as it streams: made with no arguments, its fields written after.

    Its ``__init__`` is object's own, so making one is a call into C alone
    (about 300 instructions less than ``object.__new__`` called from Python):
    one is made per fragment on the updates path.
    """

    __slots__ = ()
    if TYPE_CHECKING:  # pragma: no cover
        def __init__(self) -> None: ...
    else:
        __init__ = object.__init__


class _Call:
    """What progress keeps of one tool call while it streams: its fragments, and the parser that reads them in order."""

    __slots__ = ("tool_index", "id", "name", "pieces", "parser", "fed", "valid", "done", "lock")

    def __init__(self, tool_index: int) -> None:
        self.tool_index = tool_index
        self.id = None  # type: Optional[str]
        self.name = None  # type: Optional[str]
        self.pieces = []  # type: List[str]
        self.parser = PartialJSONParser()
        self.fed = 0  # pieces the parser has read
        self.valid = True
        self.done = False
        self.lock = threading.Lock()  # (records read from two threads take turns at the parser)

    def delta(self, piece: str) -> ToolCallDelta:
        """The record of the next fragment *piece*, its arguments parsed when first read."""
        pieces = self.pieces
        pieces.append(piece)
        record = _StreamedDelta()
        record._fields = (self.tool_index, self.id, self.name, piece, self, len(pieces))
        record._said = None
        return record

    def parsed(self, count: int) -> Tuple[Any, bool]:
        """The arguments that the first *count* fragments say, and whether they are still JSON."""
        with self.lock:
            if count < self.fed:  # an older record read after newer ones: its own prefix, alone
                parser = PartialJSONParser()
                valid = _fed(parser, self.pieces[:count])
                return parser.snapshot(), valid
            if self.valid:
                self.valid = _fed(self.parser, self.pieces[self.fed : count])
            self.fed = count
            return self.parser.snapshot(), self.valid


def _fed(parser: PartialJSONParser, pieces: List[str]) -> bool:
    """Feed *pieces* to *parser*; False if they stopped being JSON (the parser then keeps what came before)."""
    try:
        for piece in pieces:
            parser.feed(piece)
    except PartialJSONError:
        return False
    return True


class Progress:
    """Where a watched accumulator notes the progress of choice 0 while it adds one event.

    The format calls :meth:`reasoning`, :meth:`tool_call_start`,
    :meth:`tool_call_fragment` and :meth:`tool_call_done` as things happen
    (*key* is whatever the format finds its calls by); the accumulator's
    machinery calls :meth:`usage` and :meth:`finish`. ``notes`` stays empty
    and ``record`` None for an event that only added answer text, which is
    how the records of that common event cost two checks; an event that
    brought one tool-call fragment and nothing else has just ``record`` (see
    ``Accumulator.updates_after``).
    """

    __slots__ = ("notes", "record", "calls", "usage_changed", "usage_said", "finished")

    def __init__(self) -> None:
        #: What the current event did, in order: ("reasoning", text) / ("start" | "done", call) / ("delta", call, text);
        #: None for usage or the finish reason (reported after the rest). The list object never changes.
        self.notes = []  # type: List[Any]
        #: The record of a fragment that came before anything else of the event, made at once.
        self.record = None  # type: Optional[ToolCallDelta]
        self.calls = {}  # type: Dict[Any, _Call]
        self.usage_changed = False
        self.usage_said = None  # type: Any  # the counts (and finality) last reported
        self.finished = False

    def reasoning(self, piece: Any) -> None:
        """Visible reasoning text arrived."""
        if piece.__class__ is str and piece:
            self.notes.append(("reasoning", piece))

    def tool_call_start(self, key: Any, tool_index: int) -> None:
        """A tool call opened; it will be the answer's tool call with ``index`` *tool_index*."""
        if key not in self.calls:
            call = self.calls[key] = _Call(tool_index)
            self.notes.append(("start", call))

    def tool_call_fragment(self, key: Any, piece: Any) -> None:
        """A piece of the arguments of the call opened under *key*."""
        try:
            call = self.calls[key]
        except KeyError:  # (a fragment of a call that never opened)
            return
        if piece.__class__ is str and piece:
            if self.notes or self.record is not None:  # (a start noted before it may have yet to give the call its
                self.notes.append(("delta", call, piece))  # id: records() makes the record, in order)
                return
            pieces = call.pieces  # its record at once: _Call.delta written out, as it runs once per fragment
            pieces.append(piece)
            record = self.record = _StreamedDelta()
            record._fields = (call.tool_index, call.id, call.name, piece, call, len(pieces))
            record._said = None

    def tool_call_done(self, key: Any) -> None:
        """The call under *key* has all its arguments."""
        call = self.calls.get(key)
        if call is not None and not call.done:
            call.done = True
            self.notes.append(("done", call))

    def all_done(self) -> None:
        """The answer ended: every call still open is complete."""
        for key, call in self.calls.items():
            if not call.done:
                self.tool_call_done(key)

    def usage(self) -> None:
        """The provider reported usage."""
        self.usage_changed = True
        self.notes.append(None)

    def finish(self) -> None:
        """The finish reason arrived (or changed)."""
        self.all_done()
        self.finished = True
        self.notes.append(None)

    def records(self, tool_calls: Callable[[], List[ToolCall]]) -> List[Update]:
        """The notes of text, reasoning and tool calls as records, and the notes cleared.

        *tool_calls* gives the answer's tool calls so far, asked only when a
        call started or ended (its id, name and final form are read there).
        """
        records = []  # type: List[Update]
        if self.record is not None:
            records.append(self.record)
            self.record = None
        final_calls = None  # type: Optional[Dict[int, ToolCall]]
        for note in self.notes:
            if note is None:
                continue
            what = note[0]
            if what == "reasoning":
                records.append(ReasoningUpdate(note[1]))
                continue
            call = note[1]
            if what == "delta":
                records.append(call.delta(note[2]))
                continue
            if final_calls is None:
                final_calls = {made.index: made for made in tool_calls()}
            final = final_calls.get(call.tool_index) or ToolCall(call.tool_index, call.id, call.name, "")
            if what == "start":
                call.id, call.name = final.id, final.name
                records.append(ToolCallStart(call.tool_index, call.id, call.name))
            else:
                records.append(ToolCallDone(final))
        del self.notes[:]
        return records


def update_to_dict(update: Update) -> Dict[str, Any]:
    """A record as a JSON-ready dict: its ``kind`` and its fields (a ToolCall or Usage as their own dicts)."""
    data = {"kind": update.kind}  # type: Dict[str, Any]
    for name, value in update._asdict().items():
        data[name] = value.to_dict() if isinstance(value, (ToolCall, Usage)) else value
    return data


def whole_answer_updates(completion: Completion) -> List[Update]:
    """The records of an answer that came whole (a non-streamed result): everything at once, in order."""
    records = []  # type: List[Update]
    if completion.reasoning:
        records.append(ReasoningUpdate(completion.reasoning))
    if completion.text:
        records.append(TextUpdate(completion.text))
    for call in completion.tool_calls:
        records.append(ToolCallStart(call.index, call.id, call.name))
        if call.arguments:
            state = _Call(call.index)
            state.id, state.name = call.id, call.name
            records.append(state.delta(call.arguments))
        records.append(ToolCallDone(call))
    if completion.usage:
        records.append(UsageUpdate(completion.usage))
    if completion.raw_finish_reason is not None or completion.finish_reason is not None:
        records.append(FinishUpdate(completion.finish_reason, completion.raw_finish_reason))
    return records
