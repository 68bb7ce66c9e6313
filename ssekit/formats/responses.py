"""OpenAI Responses API streams (``response.*`` semantic events).

Text from ``response.output_text.delta`` (``.done`` fills in a part that had no
deltas), refusals, reasoning text and summaries, function calls from
``response.output_item.added`` plus ``response.function_call_arguments.delta``
(the ``.done`` events' complete arguments win), and the final response object
of ``response.completed`` / ``response.incomplete`` (status, usage, and any
output that was not streamed). ``response.failed`` and ``error`` raise
:class:`~ssekit.errors.StreamError`. A first frame that is a bare response
object without ``type`` (``{"id": "resp_...", "status": "in_progress"}``) is
understood too.
"""
from typing import Any, Dict, List, Mapping, Optional

from .._text import NO_SECRETS, Secrets
from .base import Accumulator, as_dict, as_int, as_list, as_str

class ResponsesAccumulator(Accumulator):
    """Accumulates an OpenAI Responses API event stream.

    ``extra`` holds ``status`` (the response's last status) and, for a
    ``response.incomplete``, ``incomplete_reason`` (e.g. ``max_output_tokens``,
    also the raw finish reason). Tool call ids are the ``call_id`` values to
    answer with; ``index`` is the call's position among the calls.
    """

    format = "responses"
    url_suffixes = ("/responses",)
    _proper_end = "response.completed or response.incomplete"
    _events = {
        "response.created": "_on_response",
        "response.queued": "_on_response",
        "response.in_progress": "_on_response",
        "response.completed": "_on_completed",
        "response.incomplete": "_on_incomplete",
        "response.failed": "_on_failed",
        "error": "_raise_error",
        "response.output_item.added": "_on_item",
        "response.output_item.done": "_on_item",
        "response.content_part.added": "_on_part_added",
        "response.output_text.delta": "_on_output_text_delta",
        "response.output_text.done": "_on_text_done",
        "response.refusal.delta": "_on_refusal_delta",
        "response.reasoning_text.delta": "_on_reasoning_delta",
        "response.reasoning_summary_text.delta": "_on_reasoning_delta",
        "response.reasoning_summary_part.added": "_on_summary_part",
        "response.function_call_arguments.delta": "_on_arguments_delta",
        "response.function_call_arguments.done": "_on_arguments_done",
    }

    def __init__(self, *, fallback_id: Optional[str] = None, secrets: Secrets = NO_SECRETS) -> None:
        super().__init__(fallback_id=fallback_id, secrets=secrets)
        self._part_has_text = False  # a delta of the current content part arrived

    # --- text ---------------------------------------------------------------

    def _on_part_added(self, payload: Dict[str, Any]) -> str:
        self._part_has_text = False
        return ""

    def _on_output_text_delta(self, payload: Dict[str, Any]) -> str:
        text = self._on_text_delta(payload)
        if text:
            self._part_has_text = True
        return text

    def _on_text_done(self, payload: Dict[str, Any]) -> str:
        """Use the part's full text only when no delta of it arrived."""
        text = "" if self._part_has_text else self._on_text_delta({"delta": payload.get("text")})
        self._part_has_text = False
        return text

    def _on_refusal_delta(self, payload: Dict[str, Any]) -> str:
        self._main.add_refusal(payload.get("delta"))
        return ""

    def _on_reasoning_delta(self, payload: Dict[str, Any]) -> str:
        delta = as_str(payload.get("delta"))
        if delta:
            self._main.reasoning.append(delta)
        return ""

    def _on_summary_part(self, payload: Dict[str, Any]) -> str:
        if self._main.reasoning:  # separate summary parts as paragraphs
            self._main.reasoning.append("\n\n")
        return ""

    # --- function calls -----------------------------------------------------

    def _on_item(self, payload: Dict[str, Any]) -> str:
        item = as_dict(payload.get("item"))
        key = as_int(payload.get("output_index"))
        self._add_function_call(item, as_str(item.get("id")) if key is None else key)
        return ""

    def _add_function_call(self, item: Mapping[str, Any], key: Any) -> None:
        """Register a ``function_call`` output item; its ``arguments``, when sent, are complete."""
        if item.get("type") != "function_call" or key is None:
            return
        tools = self._main.tools
        call = tools.open(key, id=item.get("call_id") or item.get("id"), name=item.get("name"))
        if item.get("arguments"):
            tools.replace_arguments(call, item.get("arguments"))

    def _call_for(self, payload: Mapping[str, Any]) -> Any:
        key = as_int(payload.get("output_index"))
        if key is None:
            key = as_str(payload.get("item_id"))
        return None if key is None else self._main.tools.open(key, name=payload.get("name"))

    def _on_arguments_delta(self, payload: Dict[str, Any]) -> str:
        call = self._call_for(payload)
        if call is not None:
            self._main.tools.merge(call, arguments=payload.get("delta"))
        return ""

    def _on_arguments_done(self, payload: Dict[str, Any]) -> str:
        call = self._call_for(payload)
        if call is not None:
            self._main.tools.replace_arguments(call, payload.get("arguments"))
        return ""

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
        if status == "failed":
            self._on_failed({"response": payload})
        if status in ("completed", "incomplete"):
            return self._settle(payload, status)
        if status is not None or payload.get("object") == "response":
            self._take_response(payload)
        return ""

    def _take_response(self, response: Mapping[str, Any]) -> None:
        """Id, model, status and usage from a response object."""
        self._take_ids(response)
        status = as_str(response.get("status"))
        if status:
            self._extra["status"] = status
        self._take_usage(response.get("usage"))

    def _settle(self, response: Mapping[str, Any], status: str) -> str:
        """The final response object: end the stream and take whatever was not streamed."""
        self._take_response(response)
        text = self._load_output(as_list(response.get("output")))
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

    def _load_output(self, output: List[Any]) -> str:
        """Fill in from the final ``output`` items: calls by position; text and reasoning if none streamed."""
        main = self._main
        texts = []  # type: List[str]
        reasoning = []  # type: List[str]
        for position, item in enumerate(output):
            item = as_dict(item)
            kind = item.get("type")
            if kind == "function_call":
                self._add_function_call(item, position)
            elif kind == "message":
                for part in as_list(item.get("content")):
                    part = as_dict(part)
                    if part.get("type") == "output_text":
                        texts.append(as_str(part.get("text")) or "")
                    elif part.get("type") == "refusal" and main.refusal is None:
                        main.add_refusal(part.get("refusal"))
            elif kind == "reasoning":
                for part in as_list(item.get("summary")) + as_list(item.get("content")):
                    reasoning.append(as_str(as_dict(part).get("text")) or "")
        if reasoning and not main.reasoning:
            main.reasoning.append("\n\n".join(piece for piece in reasoning if piece))
        text = "".join(texts)
        if not text or main.text:
            return ""
        main.text.append(text)
        return text

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """A non-streamed Responses ``response`` object."""
        self._settle(result, "completed")
