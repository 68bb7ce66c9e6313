"""The result types every wire format rebuilds into: Completion, ToolCall, Usage.

Provider-neutral and read-only: ``repr``, ``==`` and ``to_dict()`` for JSON.
A :class:`Completion` keeps the provider's own output (``output``: the content
blocks, output items or message, verbatim and in order); ``text``,
``reasoning``, ``refusal`` and ``tool_calls`` are views of it, worked out on
first access, so taking a snapshot after every event stays cheap however long
the answer grows. What each provider's words mean lives in its format module
(:mod:`ssekit.formats`). Standard library only.
"""
import copy
import json
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .errors import SSEKitError, ToolCallArgumentsError
from .partial_json import parse_partial_json

if TYPE_CHECKING:  # pragma: no cover - typing-extensions is for type checkers only here
    from typing_extensions import Final, TypedDict

    class UsageDict(TypedDict):
        """:meth:`Usage.to_dict`'s shape."""

        input_tokens: Optional[int]
        output_tokens: Optional[int]
        total_tokens: Optional[int]
        reasoning_tokens: Optional[int]
        cache_read_input_tokens: Optional[int]
        cache_creation_input_tokens: Optional[int]
        final: bool
        raw: Dict[str, Any]

    class ToolCallDict(TypedDict):
        """:meth:`ToolCall.to_dict`'s shape."""

        index: int
        id: Optional[str]
        name: Optional[str]
        arguments: str
        type: str

    class CompletionDict(TypedDict):
        """:meth:`Completion.to_dict`'s shape."""

        text: str
        tool_calls: List[ToolCallDict]
        usage: UsageDict
        finish_reason: Optional[str]
        id: Optional[str]
        model: Optional[str]
        complete: bool
        reasoning: str
        refusal: Optional[str]
        raw_finish_reason: Optional[str]
        format: Optional[str]
        choices: List["CompletionDict"]
        extra: Dict[str, Any]
        output: List[Any]
        resumed: int


__all__ = ["Completion", "ToolCall", "Usage"]


@dataclass(frozen=True)
class Usage:
    """Token counts, normalised across providers; ``raw`` keeps what the provider sent.

    Every count is None when the provider did not report it (never an
    estimate). ``final`` is True when the figures are the provider's final
    report for the answer, False for a snapshot from mid-stream (e.g. the
    ``message_start`` usage of a stream that was cut before ``message_delta``).
    """

    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    reasoning_tokens: Optional[int] = None
    cache_read_input_tokens: Optional[int] = None
    cache_creation_input_tokens: Optional[int] = None
    final: bool = field(default=False, compare=False)
    raw: Dict[str, Any] = field(default_factory=dict, compare=False)

    def __bool__(self) -> bool:
        return bool(self.raw) or self.total_tokens is not None

    def to_dict(self) -> "UsageDict":
        """The counts, ``final`` and ``raw`` as a JSON-ready dict."""
        return {item.name: getattr(self, item.name) for item in fields(self)}  # type: ignore[return-value]


@dataclass(frozen=True)
class ToolCall:
    """One function/tool call; ``arguments`` is the JSON string exactly as sent."""

    index: int
    id: Optional[str] = None
    name: Optional[str] = None
    arguments: str = ""
    type: str = "function"
    #: Set by the formats on a streamed call: what reads its arguments as JSON, one parser for all its
    #: snapshots (:meth:`partial_arguments`). Not compared, not shown, not kept by ``dataclasses.replace``.
    _read_partial: Optional[Callable[[str], Any]] = field(default=None, init=False, repr=False, compare=False)

    def parse_arguments(self) -> Any:
        """The arguments as Python data; ``{}`` when none were sent.

        Raises :class:`ToolCallArgumentsError` (a ``ValueError``) on invalid JSON,
        e.g. when the stream was cut in the middle of the arguments.
        """
        if not self.arguments.strip():
            return {}
        try:
            return json.loads(self.arguments)
        except (ValueError, RecursionError) as exc:
            raise ToolCallArgumentsError(
                "arguments of tool call %r (index %d) are not valid JSON: %s"
                % (self.name, self.index, exc)
            ) from None

    def partial_arguments(self) -> Any:
        """The arguments parsed so far while they stream (``{}`` before any): what a prefix of JSON says.

        A cut string is kept as far as it goes, a cut number or literal left
        out (see :func:`ssekit.parse_partial_json`). Raises
        :class:`~ssekit.errors.PartialJSONError` (a ``ValueError``) when the
        arguments can never become JSON.

        Cheap after every fragment: the snapshots of one streamed call share
        one incremental parser, so each call parses only what arrived since
        the last and copies only the containers still open (the closed ones
        are shared with earlier results: do not change them). An older
        snapshot read after a newer one, or a call made by hand, parses its
        whole text.
        """
        if not self.arguments.strip():
            return {}
        read_partial = self._read_partial
        if read_partial is None:
            return parse_partial_json(self.arguments)
        return read_partial(self.arguments)

    def to_dict(self) -> "ToolCallDict":
        """The call as a JSON-ready dict."""
        return {item.name: getattr(self, item.name) for item in fields(self) if item.init}  # type: ignore[return-value]


class Views:
    """What a format module works out from its output on first access (see :class:`Completion`)."""

    __slots__ = ("text", "reasoning", "refusal", "tool_calls", "output")

    def __init__(
        self,
        *,
        text: str = "",
        reasoning: str = "",
        refusal: Optional[str] = None,
        tool_calls: Sequence[ToolCall] = (),
        output: Sequence[Any] = (),
    ) -> None:
        self.text = text
        self.reasoning = reasoning
        self.refusal = refusal
        self.tool_calls = list(tool_calls)
        self.output = list(output)


class UsageLater:
    """A :class:`Usage` built when first read: a snapshot per event need not build counts that change
    with every chunk (Gemini's running ``usageMetadata``). Made by :func:`usage_later`."""

    __slots__ = ("_build", "_usage")
    _build: "Tuple[Any, ...]"  # a function giving the Usage, and its arguments
    _usage: Optional[Usage]

    def value(self) -> Usage:
        """The Usage, built on the first call."""
        if self._usage is None:
            build = self._build
            self._usage = build[0](*build[1:])
        return self._usage


def usage_later(*build: Any) -> UsageLater:
    """A :class:`UsageLater` that calls ``build[0](*build[1:])`` when first read, made in two writes: it has
    no ``__init__``, so calling the class is a call into C alone (a Python ``__init__`` would cost a snapshot
    about 1,500 instructions on CPython 3.11, ``object.__new__`` called from Python about 300)."""
    made = UsageLater()
    made._build = build
    made._usage = None
    return made


#: How a format builds its assistant turn from a Completion (see :meth:`Completion.to_messages`).
TurnBuilder = Callable[["Completion", Optional[bool]], List[Any]]

#: The fields of a Completion, in the order of ``repr`` and ``to_dict()``.
_FIELDS = (
    "text", "tool_calls", "usage", "finish_reason", "id", "model", "complete", "reasoning", "refusal",
    "raw_finish_reason", "format", "choices", "extra", "output", "resumed",
)  # fmt: skip
#: The fields ``==`` compares: a resumed stream's answer equals the unbroken one's.
_COMPARED = _FIELDS[:-1]
#: Where ``resumed`` and the turn builder sit in ``Completion._fields`` (the others: see the properties).
_RESUMED = 9  # type: Final
_TURN = 10  # type: Final


class Completion:
    """What the model said, rebuilt from the stream (a snapshot when taken mid-stream).

    ``output`` is the provider's own output, verbatim and in order: Anthropic
    content blocks (each thinking block with its own signature), Responses
    output items (reasoning items with ``id``, ``summary`` and
    ``encrypted_content``), or the Chat Completions assistant message. The
    flat fields are views of it: ``text``, ``reasoning``, ``refusal`` (None
    unless the model refused) and ``tool_calls``. ``finish_reason`` is
    normalised (``stop``, ``length``, ``tool_calls``, ``content_filter``...),
    ``raw_finish_reason`` is the provider's own value. ``complete`` is True
    only once the stream ended properly for its format. ``choices`` holds one
    Completion per choice when a stream carried several (``n > 1``); the
    top-level fields speak for choice 0. ``extra`` keeps provider-specific
    values (e.g. a Responses ``status``). ``resumed`` counts the times a broken
    stream was continued (``stream_completion(..., resume=True)``; 0 when it
    never broke; not compared by ``==``). Read-only.
    """

    # Every field in one tuple, set once: a progress display or an ``on_event`` hook takes a snapshot
    # per event, and a write per field was a third of its cost. The views are worked out on first access
    # (``_views``, unset until then) by calling ``_resolve``, a function and its arguments, then dropped.
    # The public fields are read-only properties; the slots are plain (a read-only __setattr__ made
    # each of a snapshot's writes an object.__setattr__ call, about 1,100 instructions).
    __slots__ = ("_fields", "_resolve", "_views")
    _fields: "Tuple[Union[Usage, UsageLater], Optional[str], Optional[str], Optional[str], bool, Optional[str], Optional[str], List[Completion], Dict[str, Any], int, Optional[TurnBuilder]]"
    _resolve: "Tuple[Any, ...]"
    _views: Views

    def __init__(
        self,
        *,
        views: "Optional[Callable[[], Views]]" = None,
        usage: Optional[Usage] = None,
        finish_reason: Optional[str] = None,
        id: Optional[str] = None,
        model: Optional[str] = None,
        complete: bool = False,
        raw_finish_reason: Optional[str] = None,
        format: Optional[str] = None,
        choices: Sequence["Completion"] = (),
        extra: Optional[Dict[str, Any]] = None,
        turn: "Optional[TurnBuilder]" = None,
        resumed: int = 0,
    ) -> None:
        fields_ = (
            usage if usage is not None else Usage(), finish_reason, id, model, complete, raw_finish_reason, format,
            list(choices) if choices else [], dict(extra) if extra else {}, resumed, turn,
        )  # fmt: skip
        self._fields = fields_
        self._resolve = (views,) if views is not None else ()

    def _resolved(self) -> Views:
        try:
            return self._views
        except AttributeError:
            pass
        resolve = self._resolve
        views = resolve[0](*resolve[1:]) if resolve else Views()  # type: Views
        self._views = views
        self._resolve = ()
        return views

    @property
    def usage(self) -> Usage:
        """The token counts (all None while the provider sent none)."""
        usage = self._fields[0]
        return usage.value() if isinstance(usage, UsageLater) else usage

    @property
    def finish_reason(self) -> Optional[str]:
        """Why the model stopped, in ssekit's words (``stop``, ``length``, ``tool_calls``, ``content_filter``...)."""
        return self._fields[1]

    @property
    def id(self) -> Optional[str]:
        """The provider's id of the answer (or the request id header when the body has none)."""
        return self._fields[2]

    @property
    def model(self) -> Optional[str]:
        """The model that answered, as the provider named it."""
        return self._fields[3]

    @property
    def complete(self) -> bool:
        """True only once the stream ended properly for its format."""
        return self._fields[4]

    @property
    def raw_finish_reason(self) -> Optional[str]:
        """The provider's own finish reason, as sent."""
        return self._fields[5]

    @property
    def format(self) -> Optional[str]:
        """The wire format the answer came in (``chat_completions``, ``messages``...)."""
        return self._fields[6]

    @property
    def choices(self) -> "List[Completion]":
        """One Completion per choice when the stream carried several (``n > 1``), else empty."""
        return self._fields[7]

    @property
    def extra(self) -> Dict[str, Any]:
        """Provider-specific values (e.g. a Responses ``status``)."""
        return self._fields[8]

    @property
    def resumed(self) -> int:
        """How many times a broken stream was continued (0 when it never broke; not compared by ``==``)."""
        return self._fields[_RESUMED]

    @property
    def text(self) -> str:
        """The answer's text (all text blocks / parts joined)."""
        return self._resolved().text

    @property
    def reasoning(self) -> str:
        """The model's visible reasoning or thinking text, joined ("" when none)."""
        return self._resolved().reasoning

    @property
    def refusal(self) -> Optional[str]:
        """The refusal text, None unless the model refused."""
        return self._resolved().refusal

    @property
    def tool_calls(self) -> List[ToolCall]:
        """The tool calls, in order."""
        return self._resolved().tool_calls

    @property
    def output(self) -> List[Any]:
        """The provider's own output, verbatim and in order (see the class docstring)."""
        return self._resolved().output

    def to_messages(self, *, reasoning: Optional[bool] = None) -> List[Any]:
        """The assistant turn in the format's own request shape, verbatim and in order.

        ``history.extend(completion.to_messages())`` is the next request's
        history: Anthropic content blocks exactly as they streamed (thinking
        with signatures), the Responses output items (a reasoning item never
        apart from the item after it), the Chat Completions assistant message.
        *reasoning* is for Chat Completions: None sends ``reasoning_content``
        back on turns that made tool calls only (as DeepSeek requires), True
        always, False never. A fresh copy on every call.
        """
        turn = self._fields[_TURN]
        if turn is None:
            raise SSEKitError("this completion has no format, so it has no request shape to give")
        try:
            return copy.deepcopy(turn(self, reasoning))
        except RecursionError:
            raise SSEKitError("the completion holds a provider value nested too deep to copy") from None

    def resumed_copy(self, resumed: int) -> "Completion":
        """This completion, recording that its stream was resumed *resumed* times (for the stream layer)."""
        return completion_from_fields(self._fields[:_RESUMED] + (resumed,) + self._fields[_RESUMED + 1 :], (self._resolved,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Completion):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _COMPARED)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]  # (equal values, mutable contents: like a dataclass with eq)

    def __repr__(self) -> str:
        shown = ("text", "tool_calls", "usage", "finish_reason", "id", "model", "complete", "reasoning", "refusal", "format")
        return "Completion(%s)" % ", ".join("%s=%r" % (name, getattr(self, name)) for name in shown)

    def to_dict(self) -> "CompletionDict":
        """A JSON-ready dict of every field (nested values included)."""
        data = {}  # type: Dict[str, Any]
        for name in _FIELDS:
            value = getattr(self, name)
            if name == "usage":
                value = value.to_dict()
            elif name == "tool_calls":
                value = [call.to_dict() for call in value]
            elif name == "choices":
                value = [choice.to_dict() for choice in value]
            data[name] = value
        return data  # type: ignore[return-value]

    def to_json(self, **dumps_kwargs: Any) -> str:
        """``json.dumps(self.to_dict())``; keyword arguments go to ``json.dumps``.

        Raises :class:`SSEKitError` (never ``RecursionError``) when a provider
        value is nested too deep to encode.
        """
        dumps_kwargs.setdefault("ensure_ascii", False)
        try:
            return json.dumps(self.to_dict(), **dumps_kwargs)
        except RecursionError:
            raise SSEKitError("the completion holds a provider value nested too deep to encode as JSON") from None


def completion_from_fields(fields: "Tuple[Any, ...]", resolve: "Tuple[Any, ...]") -> Completion:
    """A Completion made from another's ``_fields`` layout in two writes (snapshots taken after every event use it);
    *resolve* is a function giving its :class:`Views` and the arguments to call it with."""
    made = _new_object(Completion)
    made._fields = fields
    made._resolve = resolve
    return made


_new_object = object.__new__
