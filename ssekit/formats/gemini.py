"""Google Gemini streams (``POST .../models/{model}:streamGenerateContent?alt=sse``).

Every event is a whole ``GenerateContentResponse`` chunk: ``candidates`` (each
with ``content.parts``, ``finishReason``, ``index``), ``usageMetadata`` (a
running snapshot: the last one wins), ``modelVersion``, ``responseId`` and
``promptFeedback``; chunks without ``candidates`` occur. There is no
``[DONE]``: the answer is complete once every candidate has a
``finishReason`` (the interim ``FINISH_REASON_UNSPECIFIED`` is no end).
Parts are kept verbatim, in order: consecutive text parts of the same kind
(answer or ``thought: true``) are merged into one part as they stream, and a
``thoughtSignature`` stays on the part that carried it (one arriving on an
empty text part closes the text run before it and is kept on that run's part);
``functionCall`` parts arrive whole. ``promptFeedback.blockReason`` without
candidates and an ``{"error": {...}}`` chunk raise
:class:`~ssekit.errors.StreamError`. The output is each candidate's
``content``, as the next request sends it back.
"""
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional

from ..completion import Completion, Views
from .base import (
    Accumulator,
    Choice,
    Item,
    KeyHeader,
    Text,
    ToolResult,
    WireFormat,
    as_dict,
    as_str,
    int_at,
    joined,
    raw_text_of,
    resolve,
    sum_of,
    text_of,
    tool_call,
    tool_results_of,
)

__all__ = ["GeminiAccumulator", "FORMAT"]


#: The keys a text part may carry and still be merged with the text before it.
_TEXT_PART_KEYS = frozenset(["text", "thought", "thoughtSignature"])
#: Candidate keys that are not kept in ``extra`` (the rest, e.g. ``safetyRatings``, are, for candidate 0).
_CANDIDATE_KEYS = frozenset(["content", "finishReason", "index"])
#: The keys only Gemini's chunks and results have (``format="auto"``).
_KEYS = ("candidates", "usageMetadata", "promptFeedback", "modelVersion", "responseId")
#: The id ssekit gives a ``functionCall`` that came without one (``%d``: its position among the calls).
_OWN_ID = "ssekit-gemini-call-%d"
_NOT_A_REASON = ("FINISH_REASON_UNSPECIFIED", "BLOCKED_REASON_UNSPECIFIED")


class _FinishReasons(Mapping[str, str]):
    """Gemini's finish reasons, normalised; any ``IMAGE_*`` reason (a growing family) is ``content_filter``."""

    def __init__(self, known: Dict[str, str]) -> None:
        self._known = known

    def __getitem__(self, reason: str) -> str:
        if reason in self._known:
            return self._known[reason]
        if reason.startswith("IMAGE_"):
            return "content_filter"
        raise KeyError(reason)

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


class _Candidate(Choice):
    """One candidate: its ``content`` (role and parts), and the text part more text may still join."""

    __slots__ = ("parts", "content", "run", "run_thought")

    def __init__(self) -> None:
        super().__init__()
        self.parts = []  # type: List[Item]
        self.content = Item(role="model", parts=self.parts)
        self.items.append(self.content)
        self.run = None  # type: Optional[Text]  # the last part's text while it may grow
        self.run_thought = False  # whether that part is a thought


class GeminiAccumulator(Accumulator):
    """Accumulates a Gemini ``streamGenerateContent?alt=sse`` stream.

    ``add`` returns candidate 0's answer text (thoughts go to ``reasoning``).
    ``output`` is ``[content]``: ``{"role": "model", "parts": [...]}`` with
    every part verbatim. Tool calls come from the ``functionCall`` parts;
    their ``arguments`` are the JSON text of ``args``, and a call without an
    ``id`` gets ``ssekit-gemini-call-N`` (N its position among the calls), a
    stable id to match results by. With ``candidateCount > 1``,
    ``completion.choices`` holds one Completion per candidate. ``extra``
    keeps ``promptFeedback`` and candidate 0's other fields (``safetyRatings``,
    ``citationMetadata``, ``groundingMetadata``, ``finishMessage``...), the
    latest value of each. ``usage.final`` is True once a finish reason came.
    """

    format = "gemini"
    _proper_end = "a candidate with a finishReason"
    # Google's statuses and HTTP codes of passing errors (its SDK retries 408, 429, 500, 502, 503, 504).
    _retryable = frozenset(
        ["UNAVAILABLE", "RESOURCE_EXHAUSTED", "INTERNAL", "DEADLINE_EXCEEDED", "408", "429", "500", "502", "503", "504"]
    )
    _finish_reasons = _FinishReasons(
        {
            "STOP": "stop",
            "MAX_TOKENS": "length",
            "SAFETY": "content_filter",
            "RECITATION": "content_filter",
            "BLOCKLIST": "content_filter",
            "PROHIBITED_CONTENT": "content_filter",
            "SPII": "content_filter",
        }
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._finished = False  # a finish reason came: usage from here on is final

    def _new_choice(self) -> Choice:
        return _Candidate()

    def _dispatch(self, payload: Dict[str, Any], name: Optional[str]) -> str:
        """Merge one chunk; a text-only part continuing text takes the shortest path.

        The paths that change more than a text (or the usage) end snapshot sharing (see ``Accumulator._epoch``).
        """
        if payload.get("error"):
            self._raise_error(payload)
        if self.id is None or self.model is None:
            self._take_ids(payload)
            self._epoch = None
        text = ""
        candidates = payload.get("candidates")
        if candidates.__class__ is list and candidates:
            self._recognized = True  # (a stream recognized here is not complete before its finish reason, which ends sharing)
            main = self._main
            finished = False
            for position, candidate in enumerate(candidates):
                if candidate.__class__ is not dict:
                    continue
                index = candidate.get("index")
                if index.__class__ is not int:
                    index = position
                state = main if index == 0 else self._choice(index)  # type: Any
                content = candidate.get("content")
                if content.__class__ is dict:
                    parts = content.get("parts")
                    if parts.__class__ is list:
                        for part in parts:
                            if part.__class__ is not dict:
                                continue
                            piece = part.get("text")
                            run = state.run
                            if run is not None and piece.__class__ is str and len(part) == 1 and not state.run_thought:
                                if piece:  # the common part: answer text after answer text
                                    run.pieces.append(piece)
                            else:
                                piece = self._add_part(state, part)
                            if piece and state is main:
                                text += piece
                    role = content.get("role")
                    if role != "model" and role.__class__ is str and role:
                        state.content["role"] = role
                        self._epoch = None
                reason = candidate.get("finishReason")
                if reason.__class__ is str and reason and reason not in _NOT_A_REASON:
                    state.finish(reason)
                    finished = self._finished = True
                    self._epoch = None
                if len(candidate) > 2 and state is main:
                    self._epoch = None
                    self._extra.update((key, value) for key, value in candidate.items() if key not in _CANDIDATE_KEYS)
            if finished or self._ended:  # (only a finish reason, or a candidate after the end, changes it)
                self._ended = all(choice.raw_finish_reason for choice in self._choices.values())
        elif not any(key in payload for key in _KEYS):
            return self._untyped(payload)
        usage = payload.get("usageMetadata")
        if usage is not None:
            if not self._recognized:
                self._recognized = True
                self._epoch = None
            if usage.__class__ is dict:  # a running snapshot: it replaces the last (kept as sent, like parts' values)
                self._usage = usage
                self._usage_final = self._finished
                if self.progress is not None and self._finished:  # (the running counts of every chunk are not news)
                    self.progress.usage()
        feedback = payload.get("promptFeedback")
        if feedback is not None:
            self._recognized = True
            self._on_feedback(payload, feedback, bool(candidates))
        return text

    def _take_ids(self, obj: Mapping[str, Any], *id_keys: str) -> None:
        """The first ``responseId`` and ``modelVersion`` seen."""
        if self.id is None:
            self.id = as_str(obj.get("responseId")) or None
        if self.model is None:
            self.model = as_str(obj.get("modelVersion")) or None

    def _add_part(self, state: _Candidate, part: Dict[str, Any]) -> str:
        """Add one part to a candidate (merged into the text run it continues); return the answer text it adds."""
        self._epoch = None
        piece = part.get("text")
        thought = part.get("thought") is True
        mergeable = isinstance(piece, str) and part.keys() <= _TEXT_PART_KEYS
        signature = part.get("thoughtSignature")
        progress = self.progress if state is self._main else None
        if thought and progress is not None:
            progress.reasoning(piece)
        if mergeable and state.run is not None and state.run_thought == thought:
            state.run.add(piece)
            if signature is not None:  # a signature ends the run it belongs to
                state.parts[-1]["thoughtSignature"] = signature
                state.run = None
            return "" if thought else piece  # type: ignore[return-value]
        opened = Item(part)
        if isinstance(piece, str):
            opened["text"] = Text(piece)
        state.register(len(state.parts), opened, self)
        state.parts.append(opened)
        state.run, state.run_thought = (opened["text"], thought) if mergeable and signature is None else (None, False)
        call = part.get("functionCall")
        if isinstance(call, dict):
            state.tool_calls += 1
            if progress is not None:  # a call comes whole: it starts, has all its arguments and ends at once
                progress.tool_call_start(id(opened), state.tool_calls - 1)
                progress.tool_call_fragment(id(opened), raw_text_of(call.get("args")))
                progress.tool_call_done(id(opened))
        return piece if isinstance(piece, str) and not thought else ""

    def _on_feedback(self, payload: Mapping[str, Any], feedback: Any, candidates: bool) -> None:
        """Keep ``promptFeedback``; a ``blockReason`` in a chunk without candidates is a blocked prompt.

        The StreamError's ``type`` is ``prompt_blocked``, its ``code`` the ``blockReason``.
        """
        self._epoch = None
        feedback = as_dict(feedback)
        if feedback:
            self._extra["promptFeedback"] = dict(feedback)
        reason = as_str(feedback.get("blockReason"))
        if reason and reason not in _NOT_A_REASON and not candidates:
            detail = as_str(feedback.get("blockReasonMessage"))
            message = "the prompt was blocked (%s)%s" % (reason, ": " + detail if detail else "")
            self._raise_error(dict(payload, error={"message": message, "type": "prompt_blocked", "code": reason}))

    @staticmethod
    def _views(frozen: List[Any]) -> Views:
        parts = frozen[0].get("parts") or ()
        calls = [part["functionCall"] for part in parts if isinstance(part.get("functionCall"), dict)]
        return Views(
            text=joined(text_of(part.get("text")) for part in parts if part.get("thought") is not True),
            reasoning=joined(text_of(part.get("text")) for part in parts if part.get("thought") is True),
            tool_calls=[
                tool_call(position, _call_id(call.get("id"), position), call.get("name"), call.get("args"))
                for position, call in enumerate(calls)
            ],
            output=[resolve(content) for content in frozen],
        )

    @staticmethod
    def _usage_of(raw: Mapping[str, Any]) -> Dict[str, Optional[int]]:
        """Google's names: the prompt (with tool-use prompts) in, the candidates and thoughts out."""
        thoughts = int_at(raw, "thoughtsTokenCount")
        return {
            "input_tokens": sum_of(int_at(raw, "promptTokenCount"), int_at(raw, "toolUsePromptTokenCount")),
            "output_tokens": sum_of(int_at(raw, "candidatesTokenCount"), thoughts),
            "total_tokens": int_at(raw, "totalTokenCount"),
            "reasoning_tokens": thoughts,
            "cache_read_input_tokens": int_at(raw, "cachedContentTokenCount"),
            "cache_creation_input_tokens": None,
        }

    @staticmethod
    def _to_messages(completion: Completion, reasoning: Optional[bool]) -> List[Any]:
        """The model turn for the next request's ``contents``: ONE content, every part verbatim and in order."""
        output = completion.output
        content = output[0] if output and isinstance(output[0], dict) else {}
        return [{"role": content.get("role") or "model", "parts": list(content.get("parts") or [])}]

    def _load_result(self, result: Mapping[str, Any]) -> None:
        """A non-streamed ``GenerateContentResponse``: the same shape as one chunk."""
        self._dispatch(dict(result), None)
        self._finished = True


def _call_id(given: Any, position: int) -> str:
    """The call's own ``id``, or ssekit's stable one when the model gave none."""
    return given if isinstance(given, str) and given else _OWN_ID % position


def function_responses(results: Iterable[ToolResult]) -> List[Any]:
    """ONE user content with a ``functionResponse`` part per result, in order.

    ``response`` is ``{"output": output}`` (``{"error": output}`` for a failed
    tool); ``id`` is sent only when the model gave the call one (else Gemini
    matches by name and order).
    """
    parts = []  # type: List[Dict[str, Any]]
    for call, output, is_error in tool_results_of(results):
        answer = {"name": call.name or "", "response": {"error" if is_error else "output": output}}  # type: Dict[str, Any]
        if call.id and call.id != _OWN_ID % call.index:
            answer = dict(id=call.id, **answer)
        parts.append({"functionResponse": answer})
    return [{"role": "user", "parts": parts}] if parts else []


def _recognizes(payload: Mapping[str, Any], name: Optional[str]) -> bool:
    """A chunk or result with one of Gemini's own keys (and no ``type``, which Gemini never sends)."""
    return not isinstance(payload.get("type"), str) and any(key in payload for key in _KEYS)


FORMAT = WireFormat(
    name=GeminiAccumulator.format,
    accumulator=GeminiAccumulator,
    recognizes=_recognizes,
    tool_results=function_responses,
    key_header=KeyHeader("x-goog-api-key", ""),
    url_suffixes=(":streamGenerateContent", ":generateContent"),
    history_key="contents",
)
