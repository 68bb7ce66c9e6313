"""OpenAI Chat Completions streams (``chat.completion.chunk``) and the gateways that copy them.

Handles the role-only first chunk, ``content`` / ``refusal`` / reasoning
(``reasoning_content`` as DeepSeek sends it, ``reasoning`` and
``reasoning_details`` as OpenRouter does), ``tool_calls`` merged by ``index``
(and the index-less quirks of some gateways), the legacy ``function_call``,
provider extras such as ``extra_content`` (kept verbatim), ``finish_reason``,
the usage chunk with ``choices: []`` (or usage in every chunk: the last wins),
``n > 1`` choices, ``data: [DONE]`` and an ``{"error": {...}}`` object inside
the stream. The output is the assistant message of each choice, as the next
request sends it back.
"""
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ..completion import Completion, Views
from .base import (
    Accumulator,
    Choice,
    Item,
    Text,
    ToolResult,
    WireFormat,
    as_int,
    as_list,
    error_text,
    freeze,
    int_at,
    list_in,
    output_text,
    resolve,
    text_of,
    tool_call,
    tool_results_of,
)

__all__ = ["ChatCompletionsAccumulator", "FORMAT"]


#: Deltas' keys that stream text (appended); any other key is kept verbatim (lists extended, values replaced).
_TEXT_KEYS = ("content", "refusal", "reasoning_content", "reasoning")


class _MessageChoice(Choice):
    """One choice: its assistant message, its tool calls by ``index`` or ``id`` in O(1), and their arguments by ``index``."""

    __slots__ = ("message", "content", "indexes", "by_id", "next_index", "arguments")

    def __init__(self) -> None:
        super().__init__()
        self.content = Text()
        self.message = Item(role="assistant", content=self.content)
        self.items.append(self.message)
        self.indexes = []  # type: List[int]  # the provider's index of each call in message["tool_calls"]
        self.by_id = {}  # type: Dict[str, Item]
        self.next_index = 0
        self.arguments = {}  # type: Dict[int, Text]  # index -> each call's arguments, where the common fragment goes


class ChatCompletionsAccumulator(Accumulator):
    """Accumulates an OpenAI-style ``chat.completion.chunk`` stream.

    ``add`` returns the content text of choice 0 (reasoning and refusal are in
    the snapshot, not in the return value). ``complete`` is True after
    ``[DONE]`` or once every choice has a ``finish_reason``. With ``n > 1``,
    ``completion.choices`` holds one Completion per choice (their own text,
    tool calls and finish reason; usage stays on the top level only).
    ``output`` is ``[message]``: the assistant message with every field that
    streamed. ``usage.final`` is True for usage sent once every choice had
    finished (or in the ``choices: []`` chunk).
    """

    format = "chat_completions"
    _proper_end = "a finish_reason or data: [DONE]"
    _retryable = frozenset(["rate_limit_exceeded", "rate_limit_error", "server_error", "overloaded_error"])
    _finish_reasons = {"function_call": "tool_calls"}
    #: True once a chunk with choices came and the id and model are known: the checks for them stop.
    _settled = False

    @property
    def complete(self) -> bool:
        """True after ``[DONE]``, or when every choice seen has a finish reason."""
        finished = self._ended or (
            self._main.raw_finish_reason is not None
            and (len(self._choices) == 1 or all(choice.raw_finish_reason for choice in self._choices.values()))
        )
        return finished and (self._recognized or self._foreign is None)

    def _new_choice(self) -> Choice:
        return _MessageChoice()

    def _dispatch(self, payload: Dict[str, Any], name: Optional[str]) -> str:
        """Merge one chunk; the common ones (content only, one fragment of tool-call arguments) take the shortest paths."""
        text = ""
        choices = payload.get("choices")
        usage = payload.get("usage")
        if not self._settled:
            self._settle(payload, choices)
        if choices.__class__ is list:
            main = self._main
            for choice in choices:
                if choice.__class__ is not dict:
                    continue
                index = choice.get("index", 0)
                delta = choice.get("delta")
                reason = choice.get("finish_reason")
                if index == 0:
                    state = main
                elif delta or reason is not None:  # (a choice that carries nothing opens nothing)
                    state = self._choice(as_int(index) or 0)
                else:
                    continue
                if delta.__class__ is dict:
                    content = delta.get("content")
                    if content is None and len(delta) == 1 and "tool_calls" in delta:  # (a text chunk stops at the first test)
                        fragments = delta["tool_calls"]
                        try:  # the common tool-call chunk: one fragment, {"index": i, "function": {"arguments": "..."}}
                            (fragment,) = fragments
                            function, call_index = fragment["function"], fragment.get("index")
                            arguments, pieces = function["arguments"], state.arguments.get(call_index)  # type: ignore[attr-defined]
                        except (KeyError, TypeError, ValueError):  # (not that chunk)
                            pieces = None
                        if (
                            pieces is not None  # (a call already open)
                            and call_index.__class__ is int
                            and len(fragment) == 2
                            and len(function) == 1
                            and arguments.__class__ is str
                            and arguments
                        ):
                            pieces.pieces.append(arguments)
                            if state.progress is not None:
                                state.progress.tool_call_fragment(pieces, arguments)
                        else:
                            self._merge_tool_calls(state, fragments)  # type: ignore[arg-type]
                    elif content.__class__ is str:
                        if content:
                            state.content.pieces.append(content)  # type: ignore[attr-defined]
                            if state is main:
                                text = content
                        if len(delta) > 1:
                            self._merge_delta(state, delta)  # type: ignore[arg-type]
                    elif delta:
                        self._merge_delta(state, delta)  # type: ignore[arg-type]
                if reason is not None:
                    state.finish(reason)
                    self._epoch = None
        elif usage is None:
            self._untyped(payload)
        if usage is not None:
            if not self._recognized:
                self._recognized = True
                self._epoch = None
            final = not choices or all(choice.raw_finish_reason for choice in self._choices.values())
            self._take_usage(usage, final=final)
        if "error" in payload and payload["error"]:  # (most chunks carry no error)
            self._raise_error(payload)
        return text

    def _settle(self, payload: Dict[str, Any], choices: Any) -> None:
        """The opening chunks: the stream's id and model, and whether it is a chat stream at all."""
        known = (self.id, self.model, self._recognized)
        self._take_ids(payload)
        if choices.__class__ is list:
            self._recognized = True
        if (self.id, self.model, self._recognized) != known:
            self._epoch = None  # (a snapshot after this chunk shares nothing with the last)
        self._settled = self._recognized and self.id is not None and self.model is not None

    def _merge_delta(self, state: _MessageChoice, delta: Mapping[str, Any]) -> None:
        """Everything of a delta but ``content``: tool calls, reasoning, refusal, role, extras."""
        self._epoch = None  # (more than a text may change: see Accumulator._epoch)
        message = state.message
        for key, value in delta.items():
            if value is None or key == "content":
                continue
            if key == "tool_calls":
                self._merge_tool_calls(state, value)
            elif key == "function_call":  # the deprecated single-function form
                self._merge_function_call(state, value)
            elif key in _TEXT_KEYS:
                field = message.get(key)
                if field is None:
                    field = message[key] = Text()
                piece = field.add(value)
                if self.progress is not None and key != "refusal" and state is self._main:
                    self.progress.reasoning(piece)
            elif key == "role":
                if isinstance(value, str) and value:
                    message["role"] = value
            elif isinstance(value, list):
                list_in(message, key).extend(value)
            else:
                message[key] = value

    def _merge_tool_calls(self, state: _MessageChoice, fragments: Any) -> None:
        """Merge each fragment of a ``tool_calls`` list (what is not a list of objects is ignored)."""
        self._epoch = None  # (a call may open or change: see Accumulator._epoch)
        for fragment in fragments if fragments.__class__ is list else ():
            if fragment.__class__ is dict:
                self._merge_tool_call(state, fragment)

    def _merge_tool_call(self, state: _MessageChoice, fragment: Mapping[str, Any]) -> None:
        """Merge a tool-call fragment by ``index``; without one, by ``id``, else into the last call."""
        index = fragment.get("index")
        call_id = fragment.get("id")
        call = None  # type: Optional[Item]
        if index.__class__ is int:
            call = state.keyed.get(index)
        elif call_id.__class__ is str and call_id:
            call = state.by_id.get(call_id)
        elif state.indexes:
            call = state.keyed.get(state.indexes[-1])
        if call is None:
            index = index if index.__class__ is int else state.next_index
            call = self._open_tool_call(state, index)
            if state.progress is not None:  # (only the first choice is watched; a call is known by its arguments)
                state.progress.tool_call_start(call["function"]["arguments"], index)
        if call_id and call_id.__class__ is str and not call.get("id"):  # (most fragments carry no id)
            call["id"] = call_id
            state.by_id[call_id] = call
        function = fragment.get("function")
        if function.__class__ is dict:
            target = call["function"]
            arguments = function.get("arguments")
            if arguments.__class__ is str and arguments:
                target["arguments"].pieces.append(arguments)
                if state.progress is not None:
                    state.progress.tool_call_fragment(target["arguments"], arguments)
            if arguments is None or len(function) > 1:  # (the common fragment carries only arguments)
                name = function.get("name")
                if isinstance(name, str) and name and not target.get("name"):
                    target["name"] = name
                for key, value in function.items():
                    if key not in ("name", "arguments") and value is not None:
                        target[key] = value
        if len(fragment) > 2:  # (the common fragment carries only index and function)
            for key, value in fragment.items():
                if key not in ("index", "id", "function", "type") and value is not None:
                    call[key] = value  # provider extras, e.g. extra_content.google.thought_signature

    def _open_tool_call(self, state: _MessageChoice, index: int) -> Item:
        """A new tool call at *index*, kept in index order in the message's ``tool_calls``."""
        calls = state.message.get("tool_calls")
        if calls is None:
            calls = state.message["tool_calls"] = []
        call = Item(id=None, type="function", function=Item(name=None, arguments=Text("")))
        position = len(state.indexes)
        while position and state.indexes[position - 1] > index:
            position -= 1
        state.register(index, call, self)
        state.arguments[index] = call["function"]["arguments"]
        calls.insert(position, call)
        state.indexes.insert(position, index)
        state.next_index = max(state.next_index, index + 1)
        state.tool_calls += 1
        return call

    def _merge_function_call(self, state: _MessageChoice, value: Any) -> None:
        if not isinstance(value, dict):
            return
        call = state.message.get("function_call")
        if call is None:
            call = state.message["function_call"] = Item(name=None, arguments=Text(""))
            state.tool_calls += 1
        if isinstance(value.get("name"), str) and not call.get("name"):
            call["name"] = value["name"]
        call["arguments"].add(value.get("arguments"))

    def _freeze(self, choice: Choice) -> Tuple[Any, Tuple[int, ...]]:
        assert isinstance(choice, _MessageChoice)
        return freeze(choice.message), tuple(choice.indexes)

    @staticmethod
    def _views(frozen: Tuple[Any, Tuple[int, ...]]) -> Views:
        message, indexes = frozen
        calls = [
            tool_call(index, call.get("id"), call["function"].get("name"), call["function"].get("arguments"))
            for index, call in zip(indexes, message.get("tool_calls") or ())
        ]
        legacy = message.get("function_call")
        if legacy is not None:
            calls.append(tool_call(len(calls), None, legacy.get("name"), legacy.get("arguments")))
        refusal = message.get("refusal")
        return Views(
            text=text_of(message.get("content")),
            reasoning=text_of(message.get("reasoning_content")) or text_of(message.get("reasoning")),
            refusal=None if refusal is None else text_of(refusal),
            tool_calls=calls,
            output=[resolve(message)],
        )

    @staticmethod
    def _usage_of(raw: Mapping[str, Any]) -> Dict[str, Optional[int]]:
        """OpenAI's names: ``prompt_tokens`` (with ``*_tokens_details``), ``completion_tokens``."""
        return {
            "input_tokens": int_at(raw, "prompt_tokens"),
            "output_tokens": int_at(raw, "completion_tokens"),
            "total_tokens": int_at(raw, "total_tokens"),
            "reasoning_tokens": int_at(raw, "completion_tokens_details", "reasoning_tokens"),
            "cache_read_input_tokens": int_at(raw, "prompt_tokens_details", "cached_tokens"),
            "cache_creation_input_tokens": int_at(raw, "prompt_tokens_details", "cache_write_tokens"),
        }

    @staticmethod
    def _to_messages(completion: Completion, reasoning: Optional[bool]) -> List[Any]:
        """One assistant message; ``reasoning_content`` / ``reasoning`` kept on tool-call turns (or as *reasoning* says)."""
        message = dict(completion.output[0]) if completion.output else {"role": "assistant"}
        keep = bool(message.get("tool_calls") or message.get("function_call")) if reasoning is None else reasoning
        if not keep:
            message.pop("reasoning_content", None)
            message.pop("reasoning", None)
        if message.get("content") is None and not message.get("tool_calls") and not message.get("function_call"):
            message["content"] = ""  # an assistant message needs content or tool calls
        return [message]

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """A ``chat.completion`` object: each choice's ``message`` is merged as one delta."""
        choices = []
        for choice in as_list(result.get("choices")):
            if isinstance(choice, dict):
                choices.append(dict(choice, delta=choice.get("message", choice.get("delta"))))
        self._dispatch(dict(result, choices=choices), None)


def _recognizes(payload: Mapping[str, Any], name: Optional[str]) -> bool:
    """A chunk or ``chat.completion`` result: its ``object``, or a ``choices`` list and no ``type``."""
    if payload.get("object") in ("chat.completion.chunk", "chat.completion"):
        return True
    return isinstance(payload.get("choices"), list) and not isinstance(payload.get("type"), str)


def tool_messages(results: Iterable[ToolResult]) -> List[Any]:
    """One ``{"role": "tool", "tool_call_id", "content"}`` per result (the API has no error flag: errors say so in the text)."""
    return [
        {"role": "tool", "tool_call_id": call.id, "content": error_text(output) if is_error else output_text(output)}
        for call, output, is_error in tool_results_of(results)
    ]


FORMAT = WireFormat(
    name=ChatCompletionsAccumulator.format,
    accumulator=ChatCompletionsAccumulator,
    recognizes=_recognizes,
    tool_results=tool_messages,
    url_suffixes=("/chat/completions",),
    history_key="messages",
)
