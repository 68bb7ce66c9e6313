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
import functools
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Union

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


class ToolCallDelta(NamedTuple):
    """A fragment of a tool call's arguments; *arguments* is what they say so far.

    *arguments* comes from one incremental parser per call (see
    :class:`~ssekit.partial_json.PartialJSONParser`), which reads each
    fragment once; each record holds a snapshot of the value so far
    (:meth:`~ssekit.partial_json.PartialJSONParser.snapshot`: the containers
    still open are copied, the closed ones shared, so do not change them), so a
    record kept for later still says what it said. If the arguments stop being
    JSON, it stays as it was and *valid* becomes False (the call is still
    reported whole by :class:`ToolCallDone`).
    """

    tool_index: int
    id: Optional[str]
    name: Optional[str]
    fragment: str
    arguments: Any
    valid: bool = True

    @property
    def kind(self) -> "Literal['tool_call_delta']":
        return "tool_call_delta"


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


#: ``text_record((text,))`` makes a :class:`TextUpdate` without NamedTuple's Python-level constructor:
#: the record of the common event, made once per event on the updates path.
text_record = functools.partial(tuple.__new__, TextUpdate)

#: Any typed progress record.
Update = Union[TextUpdate, ReasoningUpdate, ToolCallStart, ToolCallDelta, ToolCallDone, UsageUpdate, FinishUpdate]


class _Call:
    """What progress keeps of one tool call while it streams."""

    __slots__ = ("tool_index", "id", "name", "parser", "valid", "done")

    def __init__(self, tool_index: int) -> None:
        self.tool_index = tool_index
        self.id = None  # type: Optional[str]
        self.name = None  # type: Optional[str]
        self.parser = PartialJSONParser()
        self.valid = True
        self.done = False


class Progress:
    """Where a watched accumulator notes the progress of choice 0 while it adds one event.

    The format calls :meth:`reasoning`, :meth:`tool_call_start`,
    :meth:`tool_call_fragment` and :meth:`tool_call_done` as things happen
    (*key* is whatever the format finds its calls by); the accumulator's
    machinery calls :meth:`usage` and :meth:`finish`. ``notes`` stays empty
    for an event that only added answer text, which is how the records of
    that common event cost one check (see ``Accumulator.updates_after``).
    """

    __slots__ = ("notes", "calls", "usage_changed", "usage_said", "finished")

    def __init__(self) -> None:
        #: What the current event did, in order: ("reasoning", text) / ("start" | "done", call) / ("delta", call, text);
        #: None for usage or the finish reason (reported after the rest). The list object never changes.
        self.notes = []  # type: List[Any]
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
        call = self.calls.get(key)
        if call is not None and piece.__class__ is str and piece:
            self.notes.append(("delta", call, piece))

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
                records.append(self._delta(call, note[2]))
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

    @staticmethod
    def _delta(call: _Call, piece: str) -> ToolCallDelta:
        if call.valid:
            try:
                call.parser.feed(piece)
            except PartialJSONError:
                call.valid = False
        return ToolCallDelta(call.tool_index, call.id, call.name, piece, call.parser.snapshot(), call.valid)


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
            records.append(Progress._delta(state, call.arguments))
        records.append(ToolCallDone(call))
    if completion.usage:
        records.append(UsageUpdate(completion.usage))
    if completion.raw_finish_reason is not None or completion.finish_reason is not None:
        records.append(FinishUpdate(completion.finish_reason, completion.raw_finish_reason))
    return records
