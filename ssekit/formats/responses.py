"""OpenAI Responses API streams (``response.*`` semantic events).

The output items are rebuilt in order as they stream: ``message`` items and
their content parts (``output_text`` deltas, a ``.done`` text filling a part
that had none, refusals), ``reasoning`` items (summary parts and reasoning
text; ``id`` and ``encrypted_content`` kept), ``function_call`` items (their
``arguments`` deltas; the ``.done`` value wins) and any other item verbatim.
``response.output_item.done`` and the final response object of
``response.completed`` / ``response.incomplete`` bring the complete items,
which win over what streamed (and fill in what did not). ``response.failed``
and ``error`` raise :class:`~ssekit.errors.StreamError`. A first frame that is
a bare response object without ``type`` (``{"id": "resp_...", "status":
"in_progress"}``) is understood too.
"""
import functools
import json
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple

from ..completion import Completion, Views
from ..sse import ServerSentEvent
from .base import (
    Accumulator,
    Item,
    Text,
    ToolResult,
    WireFormat,
    as_dict,
    as_int,
    as_list,
    as_str,
    dicts,
    error_text,
    int_at,
    joined,
    list_in,
    output_text,
    resolve,
    text_of,
    tool_call,
    tool_results_of,
)
from .resumption import ResumeRequest, SequenceCursor, child_url

__all__ = ["ResponsesAccumulator", "ResponsesCursor", "FORMAT"]


#: Each item type's list of parts, and the streamed string field of a part of each part type.
_PARTS = {"message": "content", "reasoning": "summary"}
_PART_TEXT = {"output_text": "text", "refusal": "refusal", "summary_text": "text", "reasoning_text": "text"}


class ResponsesAccumulator(Accumulator):
    """Accumulates an OpenAI Responses API event stream.

    ``output`` is the response's output items. ``extra`` holds ``status``
    (the response's last status) and, for a ``response.incomplete``,
    ``incomplete_reason`` (e.g. ``max_output_tokens``, also the raw finish
    reason). Tool call ids are the ``call_id`` values to answer with;
    ``index`` is the call's position among the calls. Usage is final once
    ``response.completed`` / ``.incomplete`` brought it.
    """

    format = "responses"
    _proper_end = "response.completed or response.incomplete"
    _retryable = frozenset(["rate_limit_exceeded", "server_error", "overloaded_error"])
    _finish_reasons = {"completed": "stop", "max_output_tokens": "length", "content_filter": "content_filter"}
    _events = {
        "response.created": "_on_response",
        "response.queued": "_on_response",
        "response.in_progress": "_on_response",
        "response.completed": "_on_completed",
        "response.incomplete": "_on_incomplete",
        "response.failed": "_on_failed",
        "error": "_raise_error",
        "response.output_item.added": "_on_item",
        "response.output_item.done": "_on_item_done",
        "response.content_part.done": "_on_part_done",
        "response.reasoning_summary_part.done": "_on_part_done",
        "response.function_call_arguments.delta": "_on_arguments_delta",
        "response.function_call_arguments.done": "_on_arguments_done",
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._ids = {}  # type: Dict[str, Item]  # output items by their id, for events without output_index
        self._delivered = False  # add() returned some text already
        self._latest = None  # type: Optional[Tuple[Any, ...]]  # where the latest text delta went, and its Text
        for kind, (method, where) in _TEXT_EVENTS.items():
            self._handlers[kind] = functools.partial(getattr(self, method), where)

    # --- finding the item and part an event is about ------------------------------

    def _item(self, payload: Mapping[str, Any], kind: str) -> Item:
        """The output item the event names (``output_index``, else ``item_id``, else the last of *kind*); opened if new."""
        index = as_int(payload.get("output_index"))
        item = self._main.keyed.get(index) if index is not None else None
        if item is None:
            item = self._ids.get(as_str(payload.get("item_id")) or "")
        if item is None and index is None:
            item = next((item for item in reversed(self._main.items) if item.get("type") == kind), None)
        if item is None:
            item = self._open({"type": kind}, index)
        return item

    def _open(self, item: Mapping[str, Any], index: Optional[int]) -> Item:
        """A new output item, verbatim, with its streamed fields made :class:`Text`."""
        opened = Item(item)
        kind = as_str(item.get("type")) or ""
        if kind in _PARTS:
            parts = _PARTS[kind]
            opened[parts] = [_part(part) for part in as_list(item.get(parts))]
            if kind == "reasoning" and "content" in item:
                opened["content"] = [_part(part) for part in as_list(item.get("content"))]
        elif kind == "function_call":
            opened["arguments"] = Text(as_str(item.get("arguments")) or "")
            self._main.tool_calls += 1
            if self.progress is not None:
                self.progress.tool_call_start(id(opened), self._main.tool_calls - 1)
                self.progress.tool_call_fragment(id(opened), item.get("arguments"))
        # An item opened without an output_index sits where an output_index would name it.
        self._main.add(len(self._main.items) if index is None else index, opened, self)
        item_id = as_str(item.get("id"))
        if item_id:
            self._ids[item_id] = opened
        return opened

    def _parts(self, payload: Mapping[str, Any], kind: str, list_name: str) -> List[Any]:
        return list_in(self._item(payload, kind), list_name)

    def _part(self, where: "_Where", payload: Mapping[str, Any], create: bool = True) -> Optional[Item]:
        """The part a text event is about (by its index, else the latest of its type); opened if new."""
        parts = self._parts(payload, where.item, where.parts)
        index = as_int(payload.get(where.index_key))
        if index is not None and 0 <= index < len(parts):
            found = parts[index]
            return found if isinstance(found, Item) else None  # (not a part: the event is ignored)
        if index is None and parts and isinstance(parts[-1], Item) and parts[-1].get("type") == where.part:
            return parts[-1]
        if not create:
            return None
        part = Item(type=where.part)
        part[_PART_TEXT[where.part]] = Text("")
        parts.append(part)
        return part

    # --- events -----------------------------------------------------------------

    def _on_item(self, payload: Dict[str, Any]) -> str:
        item = payload.get("item")
        if not isinstance(item, dict):
            return ""
        return self._merge_item(item, as_int(payload.get("output_index")))

    def _merge_item(self, item: Mapping[str, Any], index: Optional[int]) -> str:
        """An item as added, or complete (``.done``, the final output): merged over what streamed; returns unstreamed text."""
        self._latest = None
        existing = self._existing(index, item.get("id"))
        if existing is None:
            opened = self._open(item, index)
            return self._deliver(_message_text(opened)) if item.get("type") == "message" else ""
        if existing.get("type") not in (None, item.get("type")):
            return ""
        before = _message_text(existing)
        complete = self._open_fields(item)
        existing.update(complete)
        after = _message_text(existing)
        return self._deliver(after) if after and not before else ""

    def _existing(self, index: Optional[int], item_id: Any) -> Optional[Item]:
        """The output item at *index*, else the one with *item_id*, if it opened already."""
        existing = self._main.keyed.get(index) if index is not None else None
        return existing if existing is not None else self._ids.get(as_str(item_id) or "")

    def _on_item_done(self, payload: Dict[str, Any]) -> str:
        text = self._on_item(payload)
        if self.progress is not None:
            item = self._existing(as_int(payload.get("output_index")), as_dict(payload.get("item")).get("id"))
            if item is not None:
                self.progress.tool_call_done(id(item))
        return text

    def _open_fields(self, item: Mapping[str, Any]) -> Dict[str, Any]:
        """A complete item's fields with its strings made :class:`Text` (so that later events can extend them)."""
        fields = dict(item)
        kind = as_str(item.get("type")) or ""
        if kind in _PARTS:
            for list_name in (_PARTS[kind], "content"):
                if list_name in item:
                    fields[list_name] = [_part(part) for part in as_list(item.get(list_name))]
        elif kind == "function_call" and "arguments" in item:
            fields["arguments"] = Text(as_str(item.get("arguments")) or "")
        return fields

    def _deliver(self, text: str) -> str:
        if text:
            self._delivered = True
        return text

    def _on_part_added(self, where: "_Where", payload: Dict[str, Any]) -> str:
        self._latest = None
        parts = self._parts(payload, where.item, where.parts)
        part = payload.get("part")
        parts.append(_part(part if isinstance(part, dict) else {"type": where.part, _PART_TEXT[where.part]: ""}))
        return ""

    def _on_part_done(self, payload: Dict[str, Any]) -> str:
        return ""

    def _on_text_delta(self, where: "_Where", payload: Dict[str, Any]) -> str:
        delta = payload.get("delta")
        if delta.__class__ is not str or not delta:
            return ""
        latest = self._latest
        index = payload.get("output_index")
        key = (where, index, payload.get(where.index_key)) if index is not None else None
        if key is None or latest is None or latest[0] != key:  # (the common case: the same part as before)
            part = self._part(where, payload)
            text = _text_field(part)
            if text is None:
                return ""
            latest = self._latest = (key, text, part.get("type"))  # type: ignore[union-attr]
        else:
            self._epoch = self._kept  # (only a text grew: see Accumulator._epoch)
        latest[1].pieces.append(delta)
        if latest[2] == "output_text":
            self._delivered = True
            return delta
        if self.progress is not None and latest[2] in _REASONING_PARTS:
            self.progress.reasoning(delta)
        return ""

    def _on_text_done(self, where: "_Where", payload: Dict[str, Any]) -> str:
        """Use the part's full text only when no delta of it arrived."""
        value = payload.get(_PART_TEXT[where.part])
        part = self._part(where, payload)
        text = _text_field(part)
        if text is None or text or not isinstance(value, str):
            return ""
        text.set(value)
        kind = part.get("type")  # type: ignore[union-attr]
        if self.progress is not None and kind in _REASONING_PARTS:
            self.progress.reasoning(value)
        return self._deliver(value) if kind == "output_text" else ""

    def _on_annotation(self, where: "_Where", payload: Dict[str, Any]) -> str:
        part = self._part(where, payload, create=False)
        annotation = payload.get("annotation")
        if part is not None and isinstance(annotation, dict):
            list_in(part, "annotations").append(annotation)
        return ""

    def _on_arguments_delta(self, payload: Dict[str, Any]) -> str:
        call = self._call(payload)
        piece = call["arguments"].add(payload.get("delta"))
        if self.progress is not None:
            self.progress.tool_call_fragment(id(call), piece)
        return ""

    def _on_arguments_done(self, payload: Dict[str, Any]) -> str:
        call = self._call(payload)
        arguments = call["arguments"]
        if self.progress is not None and not arguments:  # (nothing streamed: the arguments come whole)
            self.progress.tool_call_fragment(id(call), payload.get("arguments"))
        arguments.set(payload.get("arguments"))
        return ""

    def _call(self, payload: Mapping[str, Any]) -> Item:
        call = self._item(payload, "function_call")
        if call.get("type") != "function_call" or not isinstance(call.get("arguments"), Text):
            return Item(arguments=Text())  # an event about some other item: ignored
        if not call.get("name") and isinstance(payload.get("name"), str):
            call["name"] = payload["name"]
        return call

    # --- the response object ------------------------------------------------

    def _on_response(self, payload: Dict[str, Any]) -> str:
        self._take_response(as_dict(payload.get("response")))
        return ""

    def _on_completed(self, payload: Dict[str, Any]) -> str:
        return self._settle(as_dict(payload.get("response")), "completed")

    def _on_incomplete(self, payload: Dict[str, Any]) -> str:
        return self._settle(as_dict(payload.get("response")), "incomplete")

    def _on_failed(self, payload: Dict[str, Any]) -> str:
        response = as_dict(payload.get("response"))
        self._take_response(response)
        self._raise_error(response if response.get("error") else payload)
        return ""

    def _untyped(self, payload: Dict[str, Any]) -> str:
        """A bare response object (``{"id": "resp_...", "status": ...}``) without ``type``."""
        status = as_str(payload.get("status"))
        if status is None and payload.get("object") != "response":
            return Accumulator._untyped(self, payload)
        self._recognized = True
        if status == "failed":
            self._on_failed({"response": payload})
        if status in ("completed", "incomplete"):
            return self._settle(payload, status or "")
        self._take_response(payload)
        return ""

    def _take_response(self, response: Mapping[str, Any], final: bool = False) -> None:
        """Id, model, status and usage from a response object."""
        self._take_ids(response)
        status = as_str(response.get("status"))
        if status:
            self._extra["status"] = status
        self._take_usage(response.get("usage"), final=final)

    def _settle(self, response: Mapping[str, Any], status: str) -> str:
        """The final response object: end the stream, merge its complete output items."""
        self._take_response(response, final=True)
        text = "".join(self._merge_item(item, index) for index, item in enumerate(as_list(response.get("output"))) if isinstance(item, dict))
        status = as_str(response.get("status")) or status
        self._extra["status"] = status
        if status == "incomplete":
            reason = as_str(as_dict(response.get("incomplete_details")).get("reason")) or "incomplete"
            self._extra["incomplete_reason"] = reason
            self._main.finish(reason)
        else:
            self._main.finish(status)
        self._ended = True
        return text

    @staticmethod
    def _views(frozen: List[Any]) -> Views:
        parts = [part for item in frozen if item.get("type") == "message" for part in dicts(item.get("content"))]
        refusals = [text_of(part.get("refusal")) for part in parts if part.get("type") == "refusal"]
        calls = [item for item in frozen if item.get("type") == "function_call"]
        reasoning = (
            joined((text_of(part.get("text")) for part in dicts(item.get("summary"))), "\n\n")
            + joined(text_of(part.get("text")) for part in dicts(item.get("content")))
            for item in frozen
            if item.get("type") == "reasoning"
        )
        return Views(
            text=joined(text_of(part.get("text")) for part in parts if part.get("type") == "output_text"),
            reasoning=joined(reasoning, "\n\n"),
            refusal="".join(refusals) if refusals else None,
            tool_calls=[
                tool_call(position, item.get("call_id") or item.get("id"), item.get("name"), item.get("arguments"))
                for position, item in enumerate(calls)
            ],
            output=[resolve(item) for item in frozen],
        )

    @staticmethod
    def _usage_of(raw: Mapping[str, Any]) -> Dict[str, Optional[int]]:
        """The Responses names: ``input_tokens`` (with ``input_tokens_details``), ``output_tokens``."""
        return {
            "input_tokens": int_at(raw, "input_tokens"),
            "output_tokens": int_at(raw, "output_tokens"),
            "total_tokens": int_at(raw, "total_tokens"),
            "reasoning_tokens": int_at(raw, "output_tokens_details", "reasoning_tokens"),
            "cache_read_input_tokens": int_at(raw, "input_tokens_details", "cached_tokens"),
            "cache_creation_input_tokens": None,
        }

    @staticmethod
    def _to_messages(completion: Completion, reasoning: Optional[bool]) -> List[Any]:
        """The output items, in order, for the next request's ``input`` (reasoning items beside what follows them)."""
        return list(completion.output)

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """A non-streamed Responses ``response`` object."""
        self._settle(result, "completed")


class _Where(NamedTuple):
    """Where the text of a kind of event goes: the item type, its list of parts, the part type, the part index key."""

    item: str
    parts: str
    part: str
    index_key: str


_OUTPUT_TEXT = _Where("message", "content", "output_text", "content_index")
_REFUSAL = _Where("message", "content", "refusal", "content_index")
_REASONING_TEXT = _Where("reasoning", "content", "reasoning_text", "content_index")
_SUMMARY = _Where("reasoning", "summary", "summary_text", "summary_index")
#: The events about parts and their text: event type -> (handler, where its text goes).
#: The part types whose text is visible reasoning.
_REASONING_PARTS = frozenset(["summary_text", "reasoning_text"])

_TEXT_EVENTS = {
    "response.content_part.added": ("_on_part_added", _OUTPUT_TEXT),
    "response.output_text.delta": ("_on_text_delta", _OUTPUT_TEXT),
    "response.output_text.done": ("_on_text_done", _OUTPUT_TEXT),
    "response.output_text.annotation.added": ("_on_annotation", _OUTPUT_TEXT),
    "response.refusal.delta": ("_on_text_delta", _REFUSAL),
    "response.refusal.done": ("_on_text_done", _REFUSAL),
    "response.reasoning_text.delta": ("_on_text_delta", _REASONING_TEXT),
    "response.reasoning_text.done": ("_on_text_done", _REASONING_TEXT),
    "response.reasoning_summary_part.added": ("_on_part_added", _SUMMARY),
    "response.reasoning_summary_text.delta": ("_on_text_delta", _SUMMARY),
    "response.reasoning_summary_text.done": ("_on_text_done", _SUMMARY),
}


def _text_field(part: Optional[Mapping[str, Any]]) -> Optional[Text]:
    """The streamed text of a part, None when the part has none (a part of some other type)."""
    if part is None:
        return None
    text = part.get(_PART_TEXT.get(as_str(part.get("type")) or "", "text"))
    return text if isinstance(text, Text) else None


def _part(part: Any) -> Any:
    """A content or summary part, verbatim, its text field made :class:`Text`."""
    if not isinstance(part, dict):
        return part
    field = _PART_TEXT.get(as_str(part.get("type")) or "")
    opened = Item(part)
    if field is not None:
        opened[field] = Text(as_str(part.get(field)) or "")
    return opened


def _message_text(item: Mapping[str, Any]) -> str:
    """The output text of a message item (streamed or complete)."""
    if item.get("type") != "message":
        return ""
    return joined(text_of(_value(part.get("text"))) for part in dicts(item.get("content")) if part.get("type") == "output_text")


def _value(text: Any) -> Any:
    return text.value() if isinstance(text, Text) else text


def _recognizes(payload: Mapping[str, Any], name: Optional[str]) -> bool:
    """A ``response.*`` event (``type`` or SSE event name), or a response object (``object``, a ``resp_`` id)."""
    kind = payload.get("type")
    if not isinstance(kind, str):
        kind = name
    if isinstance(kind, str) and kind.startswith("response."):
        return True
    item_id = payload.get("id")
    return payload.get("object") == "response" or (isinstance(item_id, str) and item_id.startswith("resp_"))


def function_call_outputs(results: Iterable[ToolResult]) -> List[Any]:
    """One ``{"type": "function_call_output", "call_id", "output"}`` item per result (errors say so in the text)."""
    return [
        {"type": "function_call_output", "call_id": call.id, "output": error_text(output) if is_error else output_text(output)}
        for call, output, is_error in tool_results_of(results)
    ]


#: The statuses a response ends in (the others: ``queued``, ``in_progress``).
TERMINAL_STATUSES = frozenset(["completed", "failed", "cancelled", "incomplete"])


class ResponsesCursor(SequenceCursor):
    """A background response's place in its stream (``background: true``: stored, so it can be streamed again).

    Every event carries a ``sequence_number``. After a break the stream
    continues with ``GET {base}/responses/{id}?stream=true&starting_after={last}``
    (its first events may repeat ``response.created`` / ``queued`` /
    ``in_progress``: duplicates by number, skipped); when that is refused,
    ``GET {base}/responses/{id}`` is polled until a terminal ``status``.
    The request's ``include`` goes along as ``include[]``, as the SDK sends it.
    """

    def __init__(self, url: str, include: List[str]) -> None:
        super().__init__()
        self.id = None  # type: Optional[str]
        self._url = url
        self._include = [("include[]", value) for value in include]

    def number_of(self, event: ServerSentEvent) -> Optional[int]:
        try:
            payload = json.loads(event.data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(payload, dict):
            return None
        if self.id is None:
            response = payload.get("response") if "type" in payload else payload  # (a bare response object)
            self.id = as_str(as_dict(response).get("id")) or None
        return as_int(payload.get("sequence_number"))

    def ready(self) -> bool:
        return self.id is not None and self.last is not None

    def request(self, partial: Completion) -> ResumeRequest:
        return ResumeRequest(child_url(self._url, str(self.id), [("stream", "true"), ("starting_after", self.last)] + self._include))

    def poll_url(self) -> Optional[str]:
        return child_url(self._url, self.id, self._include) if self.id is not None else None

    def settled(self, result: Mapping[str, Any]) -> bool:
        return result.get("status") in TERMINAL_STATUSES


def resume_cursor(url: str, body: Any) -> Optional[ResponsesCursor]:
    """A cursor for a request that can be resumed: only a background one (``"background": true``) can."""
    if not isinstance(body, dict) or body.get("background") is not True:
        return None
    return ResponsesCursor(url, [value for value in as_list(body.get("include")) if isinstance(value, str)])


FORMAT = WireFormat(
    name=ResponsesAccumulator.format,
    accumulator=ResponsesAccumulator,
    recognizes=_recognizes,
    tool_results=function_call_outputs,
    url_suffixes=("/responses",),
    history_key="input",
    resume=resume_cursor,
)
