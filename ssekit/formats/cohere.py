"""Cohere v2 chat streams (``POST /v2/chat`` with ``"stream": true``).

Each event's ``type`` (also its SSE event name) is hyphenated:
``message-start`` brings the id and the assistant message's empty fields;
``content-start`` / ``content-delta`` / ``content-end`` build the content items
by their ``index`` (``text`` items stream ``delta.message.content.text``,
``thinking`` items ``.thinking``); ``tool-plan-delta`` streams
``delta.message.tool_plan``; ``tool-call-start`` / ``-delta`` / ``-end`` build
the tool calls by their ``index`` (``delta.message.tool_calls`` is ONE call,
its ``function.arguments`` streamed); ``citation-start`` carries ONE citation
(``delta.message.citations``), kept as sent; ``citation-end`` and ``debug`` are
ignored; ``message-end`` brings ``finish_reason`` and usage and ends the
stream. A ``message-end`` with ``ERROR`` (or an ``error`` event) raises
:class:`~ssekit.errors.StreamError`. The output is the assistant message
(``role``, ``tool_plan``, ``tool_calls``, ``content``, ``citations``), as the
next request sends it back.
"""
from typing import Any, Dict, Iterable, List, Mapping, Optional, cast

from ..completion import Completion, Views
from .base import (
    Accumulator,
    EMPTY,
    Choice,
    Item,
    Text,
    ToolResult,
    WireFormat,
    as_dict,
    as_int,
    as_str,
    dicts,
    freeze,
    joined,
    output_text,
    resolve,
    text_of,
    tool_call,
    tool_results_of,
)

__all__ = ["CohereAccumulator", "FORMAT"]


#: The streamed string field of each content item type.
_CONTENT_TEXT = {"text": "text", "thinking": "thinking"}


class _FinishReasons(Dict[str, str]):
    """Cohere's finish reasons, looked up whatever their case (``COMPLETE``, ``complete``, ``Complete``)."""

    def get(self, key: Any, default: Any = None) -> Any:
        return dict.get(self, key.upper() if isinstance(key, str) else key, default)


class _MessageChoice(Choice):
    """The one answer of a Cohere stream: its assistant message, content items and tool calls by index."""

    __slots__ = ("message", "tool_plan", "text_index", "text")

    def __init__(self) -> None:
        super().__init__()
        self.tool_plan = Text()
        self.message = Item(role="assistant", tool_plan=self.tool_plan, tool_calls=[], content=[], citations=[])
        self.items.append(self.message)
        self.text_index = None  # type: Optional[int]  # the latest text item's index, for the common delta's short path
        self.text = Text()


class CohereAccumulator(Accumulator):
    """Accumulates a Cohere v2 chat event stream.

    ``output`` is ``[message]``: the assistant message with ``tool_plan`` (the
    model's plan before its tool calls), ``tool_calls`` (``{"id", "type",
    "function": {"name", "arguments"}}``), ``content`` (``text`` and
    ``thinking`` items in order) and ``citations`` (each as sent).
    ``reasoning`` joins the thinking items, then the tool plan (both are the
    model's visible reasoning, never the answer). Usage counts come from
    ``usage.tokens`` (what the model read and wrote; ``billed_units`` and
    ``cached_tokens`` stay in ``usage.raw``) and are final once
    ``message-end`` brought them. Finish reasons match whatever their case;
    ``TIMEOUT`` is kept raw. Cohere's answers do not name the model.
    """

    format = "cohere"
    _proper_end = "message-end"
    # An ERROR finish is a fault of the generation, not of the request: asking again may work.
    _retryable = frozenset(["ERROR"])
    _finish_reasons = _FinishReasons(COMPLETE="stop", STOP_SEQUENCE="stop", MAX_TOKENS="length", TOOL_CALL="tool_calls")
    _events = {
        "message-start": "_on_message_start",
        "content-start": "_on_content_start",
        "content-delta": "_on_content_delta",
        "content-end": "_ignored",
        "tool-plan-delta": "_on_tool_plan_delta",
        "tool-call-start": "_on_tool_call_start",
        "tool-call-delta": "_on_tool_call_delta",
        "tool-call-end": "_on_tool_call_end",
        "citation-start": "_on_citation_start",
        "citation-end": "_ignored",
        "message-end": "_on_message_end",
        "debug": "_ignored",
        "error": "_raise_error",
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._answer = cast(_MessageChoice, self._main)

    def _new_choice(self) -> Choice:
        return _MessageChoice()

    def _ignored(self, payload: Dict[str, Any]) -> str:
        self._epoch = self._kept  # (nothing changed)
        return ""

    def _on_message_start(self, payload: Dict[str, Any]) -> str:
        """The id, and any field of the message Cohere announces beyond the ones ssekit streams."""
        self._take_ids(payload)
        announced = _message_of(payload)
        self._answer.tool_plan.add(announced.get("tool_plan"))  # ("" marks it sent, as Cohere does)
        message = self._answer.message
        for key, value in announced.items():
            if key not in message and value is not None:
                message[key] = value
        return ""

    def _on_content_start(self, payload: Dict[str, Any]) -> str:
        item = self._content_item(payload.get("index"), _message_of(payload).get("content"))
        return item["text"].value() if item.get("type") == "text" else ""

    def _on_content_delta(self, payload: Dict[str, Any]) -> str:
        answer = self._answer
        index = payload.get("index")
        content = _message_of(payload).get("content")
        if content.__class__ is not dict:
            return ""
        piece = content.get("text")
        if index == answer.text_index and piece.__class__ is str and index is not None:  # the common delta, directly
            if piece:
                answer.text.pieces.append(piece)
            self._epoch = self._kept  # (only a text grew: see Accumulator._epoch)
            return piece
        item = _find(answer, "content", index)
        if item is None:  # a delta without its content-start: open the item it implies
            kind = "thinking" if isinstance(content.get("thinking"), str) else "text"
            item = self._content_item(index, {"type": kind})
        else:
            self._epoch = self._kept  # (at most a text grows)
        field = _CONTENT_TEXT.get(as_str(item.get("type")) or "")
        text = item.get(field) if field is not None else None
        if not isinstance(text, Text):
            return ""
        added = text.add(content.get(field))
        if field == "text":
            return added
        if self.progress is not None:
            self.progress.reasoning(added)
        return ""

    def _content_item(self, index: Any, content: Any) -> Item:
        """A content item as it starts (or whole, from a result), verbatim; its streamed field as Text."""
        answer = self._answer
        item = Item(as_dict(content))
        field = _CONTENT_TEXT.get(as_str(item.get("type")) or "")
        if field is not None:
            item[field] = Text(as_str(item.get(field)) or "")
        key = ("content", as_int(index) if index is not None else len(answer.message["content"]))  # type: Any
        answer.register(key, item, self)
        answer.message["content"].append(item)
        if field == "text":
            answer.text_index, answer.text = key[1], item[field]
        return item

    def _on_tool_plan_delta(self, payload: Dict[str, Any]) -> str:
        self._epoch = self._kept  # (only a text grows)
        piece = self._answer.tool_plan.add(_message_of(payload).get("tool_plan"))
        if self.progress is not None:
            self.progress.reasoning(piece)
        return ""

    def _on_tool_call_end(self, payload: Dict[str, Any]) -> str:
        self._epoch = self._kept  # (nothing changed)
        call = _find(self._answer, "tool_calls", payload.get("index"))
        if call is not None and self.progress is not None:
            self.progress.tool_call_done(id(call))
        return ""

    def _on_tool_call_start(self, payload: Dict[str, Any]) -> str:
        self._tool_call(payload.get("index"), _one(_message_of(payload).get("tool_calls")))
        return ""

    def _on_tool_call_delta(self, payload: Dict[str, Any]) -> str:
        index = payload.get("index")
        call = _find(self._answer, "tool_calls", index)
        if call is None:  # a delta without its tool-call-start
            call = self._tool_call(index, {})
        else:
            self._epoch = self._kept  # (only a text grows)
        fragment = as_dict(_one(_message_of(payload).get("tool_calls")).get("function"))
        piece = call["function"]["arguments"].add(fragment.get("arguments"))
        if self.progress is not None:
            self.progress.tool_call_fragment(id(call), piece)
        return ""

    def _tool_call(self, index: Any, call: Mapping[str, Any]) -> Item:
        """A tool call as it starts (or whole, from a result), verbatim; its arguments as Text."""
        answer = self._answer
        opened = Item(call)
        opened.setdefault("type", "function")
        function = Item(as_dict(call.get("function")))
        function["arguments"] = Text(as_str(function.get("arguments")) or "")
        opened["function"] = function
        calls = answer.message["tool_calls"]
        answer.register(("tool_calls", as_int(index) if index is not None else len(calls)), opened, self)
        calls.append(opened)
        answer.tool_calls += 1
        if self.progress is not None:
            self.progress.tool_call_start(id(opened), answer.tool_calls - 1)
            self.progress.tool_call_fragment(id(opened), function["arguments"].value())
        return opened

    def _on_citation_start(self, payload: Dict[str, Any]) -> str:
        citation = _one(_message_of(payload).get("citations"))
        if citation:
            self._citation(citation)
        return ""

    def _citation(self, citation: Mapping[str, Any]) -> None:
        """One citation, kept as sent (counted against the bound on items)."""
        citations = self._answer.message["citations"]
        citations.append(self._answer.register(("citation", len(citations)), Item(citation), self))

    def _on_message_end(self, payload: Dict[str, Any]) -> str:
        self._take_ids(payload)
        delta = as_dict(payload.get("delta"))
        self._take_usage(delta.get("usage"), final=True)
        self._finish(delta.get("finish_reason"), delta.get("error"), payload)
        return ""

    def _finish(self, reason: Any, error: Any, body: Mapping[str, Any]) -> None:
        """End the answer; an ``ERROR`` finish (or an error message) raises StreamError."""
        self._main.finish(reason)
        self._ended = True
        failed = isinstance(reason, str) and reason.upper() == "ERROR"
        if failed or (isinstance(error, str) and error):
            message = error if isinstance(error, str) and error else "the generation stopped with %s" % reason
            self._raise_error(dict(body, error={"message": message, "code": "ERROR"}))

    def _freeze(self, choice: Choice) -> Any:
        assert isinstance(choice, _MessageChoice)
        return freeze(choice.message)

    @staticmethod
    def _views(frozen: Any) -> Views:
        content = dicts(frozen.get("content"))
        thinking = [text_of(item.get("thinking")) for item in content if item.get("type") == "thinking"]
        calls = dicts(frozen.get("tool_calls"))
        return Views(
            text=joined(text_of(item.get("text")) for item in content if item.get("type") == "text"),
            reasoning=joined(iter(thinking + [text_of(frozen.get("tool_plan"))]), "\n\n"),
            tool_calls=[
                tool_call(position, call.get("id"), as_dict(call.get("function")).get("name"), as_dict(call.get("function")).get("arguments"))
                for position, call in enumerate(calls)
            ],
            output=[resolve(frozen)],
        )

    @staticmethod
    def _usage_of(raw: Mapping[str, Any]) -> Dict[str, Optional[int]]:
        """Cohere's ``tokens`` (what the model read and wrote); ``billed_units`` stays in raw."""
        tokens = as_dict(raw.get("tokens"))
        return {
            "input_tokens": _count(tokens.get("input_tokens")),
            "output_tokens": _count(tokens.get("output_tokens")),
            "total_tokens": None,
            "reasoning_tokens": None,
            "cache_read_input_tokens": _count(raw.get("cached_tokens")),
            "cache_creation_input_tokens": None,
        }

    @staticmethod
    def _to_messages(completion: Completion, reasoning: Optional[bool]) -> List[Any]:
        """ONE assistant message, its fields as streamed (unsent or empty ones left out)."""
        for message in completion.output[:1]:
            if isinstance(message, dict):
                kept = {key: value for key, value in message.items() if value not in (None, "", [], {})}
                kept["role"] = "assistant"
                return [kept]
        return []

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """A non-streamed v2 chat response: ``{"id", "finish_reason", "message", "usage"}``."""
        self._take_ids(result)
        message = as_dict(result.get("message"))
        answer = self._answer
        for key, value in message.items():
            if key not in answer.message and value is not None:
                answer.message[key] = value
        answer.tool_plan.set(message.get("tool_plan"))
        content = message.get("content")
        for item in [{"type": "text", "text": content}] if isinstance(content, str) else dicts(content):
            self._content_item(None, item)
        for call in dicts(message.get("tool_calls")):
            self._tool_call(None, call)
        for citation in dicts(message.get("citations")):
            self._citation(citation)
        self._take_usage(result.get("usage"), final=True)
        self._finish(result.get("finish_reason"), None, result)


def _message_of(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """``payload["delta"]["message"]``, where every Cohere event carries its piece."""
    delta = payload.get("delta")
    message = delta.get("message") if delta.__class__ is dict else None
    return message if message.__class__ is dict else EMPTY


def _one(value: Any) -> Mapping[str, Any]:
    """The ONE object an event carries (``tool_calls``, ``citations``); a list's first object is accepted too."""
    if isinstance(value, dict):
        return value
    objects = dicts(value)
    return objects[0] if objects else {}


def _find(answer: _MessageChoice, kind: str, index: Any) -> Optional[Item]:
    """The content item or tool call an event's ``index`` names; without an index, the latest one."""
    if index is None:
        items = answer.message[kind]
        return items[-1] if items else None
    return answer.keyed.get((kind, as_int(index)))


def _count(value: Any) -> Optional[int]:
    """A token count: an integer, or a whole float (the SDK types the counts as floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return as_int(value)


def _recognizes(payload: Mapping[str, Any], name: Optional[str]) -> bool:
    """A Cohere event (its hyphenated ``type`` or SSE event name), or a v2 chat response
    (a ``message`` object and a ``finish_reason``, with no ``type``)."""
    kind = payload.get("type")
    if isinstance(kind, str):
        return kind in CohereAccumulator._events and kind not in ("debug", "error")
    if isinstance(name, str) and name in CohereAccumulator._events and name not in ("debug", "error"):
        return True
    return isinstance(payload.get("message"), dict) and isinstance(payload.get("finish_reason"), str)


def tool_messages(results: Iterable[ToolResult]) -> List[Any]:
    """One ``{"role": "tool", "tool_call_id", "content": [document]}`` message per result.

    The document's ``data`` is the output when it is an object or a string
    (Cohere's docs send JSON text), else its JSON text; Cohere has no error
    flag, so an error output goes as ``{"error": output}``.
    """
    messages = []
    for call, output, is_error in tool_results_of(results):
        if is_error:
            data = {"error": output}  # type: Any
        elif isinstance(output, (dict, str)):
            data = output
        else:
            data = output_text(output)
        document = {"type": "document", "document": {"data": data}}
        messages.append({"role": "tool", "tool_call_id": call.id, "content": [document]})
    return messages


FORMAT = WireFormat(
    name=CohereAccumulator.format,
    accumulator=CohereAccumulator,
    recognizes=_recognizes,
    tool_results=tool_messages,
    url_suffixes=("/v2/chat",),
    history_key="messages",
)
