"""OpenAI Chat Completions streams (``chat.completion.chunk``) and compatible gateways.

Handles the role-only first chunk, ``content`` / ``refusal`` / reasoning
(``reasoning_content`` as DeepSeek sends it, ``reasoning`` as OpenRouter does),
``tool_calls`` merged by ``index`` (and the index-less quirks of some gateways),
the legacy ``function_call``, ``finish_reason``, the usage chunk with
``choices: []`` (or usage in every chunk: the last wins), ``n > 1`` choices,
``data: [DONE]`` and an ``{"error": {...}}`` object inside the stream.
"""
from typing import Any, Dict, Mapping, Optional

from .base import Accumulator, Choice, ToolCalls, as_int, as_list


class ChatCompletionsAccumulator(Accumulator):
    """Accumulates an OpenAI-style ``chat.completion.chunk`` stream.

    ``add`` returns the content text of choice 0 (reasoning and refusal are in
    the snapshot, not in the return value). ``complete`` is True after
    ``[DONE]`` or once every choice has a ``finish_reason``. With ``n > 1``,
    ``completion.choices`` holds one Completion per choice (their own text,
    tool calls and finish reason; usage stays on the top level only).
    ``extra`` is unused.
    """

    format = "chat_completions"
    url_suffixes = ("/chat/completions",)
    _proper_end = "a finish_reason or data: [DONE]"

    @property
    def complete(self) -> bool:
        """True after ``[DONE]``, or when every choice seen has a finish reason."""
        return self._ended or all(choice.raw_finish_reason for choice in self._choices.values())

    def _dispatch(self, payload: Dict[str, Any], name: Optional[str]) -> str:
        """Merge one chunk; the common content-only chunk takes the shortest path."""
        if self.id is None or self.model is None:
            self._take_ids(payload)
        text = ""
        choices = payload.get("choices")
        if choices.__class__ is list:
            main = self._main
            for choice in choices:
                if choice.__class__ is not dict:
                    continue
                index = choice.get("index", 0)
                state = main if index == 0 else self._choice(as_int(index) or 0)
                delta = choice.get("delta")
                if delta.__class__ is dict:
                    content = delta.get("content")
                    if content.__class__ is str:
                        if content:
                            state.text.append(content)
                            if state is main:
                                text = content
                        if len(delta) > 1:
                            self._merge_delta(state, delta)
                    elif delta:
                        self._merge_delta(state, delta)
                reason = choice.get("finish_reason")
                if reason is not None:
                    state.finish(reason)
        usage = payload.get("usage")
        if usage is not None:
            self._take_usage(usage)
        if payload.get("error"):
            self._raise_error(payload)
        return text

    def _merge_delta(self, state: Choice, delta: Mapping[str, Any]) -> None:
        """Everything of a delta but ``content``: tool calls, reasoning, refusal."""
        tool_calls = delta.get("tool_calls")
        if tool_calls.__class__ is list:
            for fragment in tool_calls:
                if fragment.__class__ is dict:
                    self._merge_tool_call(state.tools, fragment)
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning.__class__ is str:
            state.reasoning.append(reasoning)
        refusal = delta.get("refusal")
        if refusal:
            state.add_refusal(refusal)
        function_call = delta.get("function_call")
        if function_call.__class__ is dict:  # the deprecated single-function form
            state.tools.open("function_call", name=function_call.get("name"), arguments=function_call.get("arguments"))

    @staticmethod
    def _merge_tool_call(tools: ToolCalls, fragment: Mapping[str, Any]) -> None:
        """Merge a tool-call fragment by ``index``; without one, by ``id``, else into the last call."""
        index = fragment.get("index")
        call_id = fragment.get("id")
        if index.__class__ is int:
            call = tools.get(index) or tools.open(index, index=index)
        else:
            call = (tools.by_id(call_id) if call_id else tools.last) or tools.open(tools.next_index())
        function = fragment.get("function")
        if function.__class__ is dict:
            tools.merge(call, id=call_id, name=function.get("name"), arguments=function.get("arguments"))
        elif call_id:
            tools.merge(call, id=call_id)

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """A ``chat.completion`` object: each choice's ``message`` is merged as one delta."""
        choices = []
        for choice in as_list(result.get("choices")):
            if isinstance(choice, dict):
                choices.append(dict(choice, delta=choice.get("message", choice.get("delta"))))
        self._dispatch(dict(result, choices=choices), None)
