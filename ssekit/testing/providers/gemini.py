"""Google Gemini as ssekit.testing speaks it: streams, results, requests and errors.

The model is named in the path and streaming by it (``:streamGenerateContent?alt=sse``
against ``:generateContent``), not in the body: hence the ``{model}`` placeholder in
:data:`PATH` and the separate :data:`RESULT_PATH`.
"""
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .base import Answered, Counts, ErrorLike, Refusal, ToolCallSpec, UsageLike, counts, output_of, pieces, signature, sse_event

#: The streaming endpoint as clients call it; ``{model}`` stands for any model name.
PATH = "/v1beta/models/{model}:streamGenerateContent?alt=sse"
#: The non-streamed endpoint (Gemini names streaming in the path, not in the body).
RESULT_PATH = "/v1beta/models/{model}:generateContent"
ID_PREFIX = "gemini-local"
MAX_TOKENS_KEYS = ("generationConfig.maxOutputTokens",)
PROMPT_KEYS = ("contents",)
SYSTEM_KEY = "systemInstruction"  # type: Optional[str]
SIGNATURE = "CiQB0e2Kb7sig0123456789abcdef"
_MODEL = "gemini-2.5-flash"
_ID = "8mXtaKq5J9ud1dkP6Le0sQ4"
# Normalised finish reasons in Gemini's vocabulary (a turn of function calls ends with STOP too).
_FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}
# Google's canonical status of each HTTP status, as its error bodies carry it.
_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _usage(usage: Counts, output_tokens: Optional[int] = None) -> Dict[str, Any]:
    """``usageMetadata``: the whole answer's, or the running snapshot after *output_tokens*."""
    made = usage.output_tokens if output_tokens is None else min(output_tokens, usage.output_tokens)
    native = usage.native("promptTokenCount", "candidatesTokenCount")
    native["candidatesTokenCount"] = made
    native["totalTokenCount"] = usage.total_tokens if output_tokens is None else usage.input_tokens + made
    native["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": usage.input_tokens}]
    return native


def _finish(finish_reason: Optional[str]) -> str:
    reason = finish_reason or "stop"
    return _FINISH_REASONS.get(reason, reason)


def _call_parts(tool_calls: Optional[Sequence[ToolCallSpec]], signature: Optional[str]) -> List[Dict[str, Any]]:
    """One whole ``functionCall`` part per call (``id`` only when given); *signature* on the first alone."""
    parts = []  # type: List[Dict[str, Any]]
    for call in tool_calls or []:
        function = {"name": call["name"], "args": json.loads(call.get("arguments") or "{}")}  # type: Dict[str, Any]
        if call.get("id"):
            function = dict(id=call["id"], **function)
        parts.append({"functionCall": function})
    if parts and signature:
        parts[0]["thoughtSignature"] = signature
    return parts


def _response(candidate: Dict[str, Any], usage: Dict[str, Any], model: Optional[str], id: Optional[str]) -> Dict[str, Any]:
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model or _MODEL, "responseId": id or _ID}


def _candidate(parts: List[Dict[str, Any]], finish: Optional[str] = None) -> Dict[str, Any]:
    candidate = {"content": {"parts": parts, "role": "model"}}  # type: Dict[str, Any]
    if finish:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return candidate


def error_object(error: Any, status: int = 503) -> Dict[str, Any]:
    """Google's error object: ``{"code", "message", "status"}`` (a plain message gets *status*)."""
    if isinstance(error, str):
        return {"code": status, "message": error, "status": _STATUSES.get(status, "UNKNOWN")}
    return dict(error)


def events(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    reasoning: Optional[str] = None,
    signature: str = SIGNATURE,
    error: ErrorLike = None,
    model: str = _MODEL,
    id: str = _ID,
) -> List[bytes]:
    """A Gemini ``streamGenerateContent?alt=sse`` stream.

    One chunk per piece: thought parts (``"thought": true``) for *reasoning*,
    then text parts, each chunk with the running ``usageMetadata``,
    ``modelVersion`` and ``responseId``. Tool calls come whole in one chunk
    (parallel calls as parts, the *signature* on the first one only when there
    is *reasoning*), which also carries ``finishReason``; a text answer ends
    with a chunk holding an empty text part (with the signature when there is
    *reasoning*), ``finishReason`` and the final usage. No ``[DONE]``. With
    *error*, a ``{"error": {"code", "message", "status"}}`` chunk (503
    ``UNAVAILABLE`` for a plain message) replaces the end.
    """
    sent = pieces(text, tokens)
    thoughts = pieces(reasoning)
    total = counts(usage, len(sent))
    signed = signature if reasoning else None
    stream = []  # type: List[bytes]
    parts = [{"text": piece, "thought": True} for piece in thoughts] + [{"text": piece} for piece in sent]  # type: List[Dict[str, Any]]
    for number, part in enumerate(parts, 1):
        made = max(0, number - len(thoughts))
        stream.append(sse_event(_response(_candidate([part]), _usage(total, made), model, id)))
    if error is not None:
        return stream + [sse_event({"error": error_object(error)})]
    last = _call_parts(tool_calls, signed) or [dict({"text": ""}, **({"thoughtSignature": signed} if signed else {}))]
    stream.append(sse_event(_response(_candidate(last, _finish(finish_reason)), _usage(total), model, id)))
    return stream


def result(
    text: Optional[str] = None,
    *,
    tokens: Optional[Sequence[str]] = None,
    tool_calls: Optional[Sequence[ToolCallSpec]] = None,
    usage: UsageLike = None,
    finish_reason: Optional[str] = None,
    reasoning: Optional[str] = None,
    refusal: Optional[str] = None,
    model: Optional[str] = None,
    id: Optional[str] = None,
) -> Dict[str, Any]:
    """A ``GenerateContentResponse``, as ``:generateContent`` answers (*refusal* has no place in it)."""
    sent = pieces(text, tokens)
    signed = SIGNATURE if reasoning else None
    parts = [{"text": reasoning, "thought": True}] if reasoning else []  # type: List[Dict[str, Any]]
    calls = _call_parts(tool_calls, signed)
    if sent:
        parts.append(dict({"text": "".join(sent)}, **({"thoughtSignature": signed} if signed and not calls else {})))
    parts += calls
    return _response(_candidate(parts, _finish(finish_reason)), _usage(counts(usage, len(sent))), model, id)


def sample_request(model: str, prompt: str, stream: bool) -> Dict[str, Any]:
    """A minimal, realistic request body (the model and streaming are in the path)."""
    return {"contents": [{"role": "user", "parts": [{"text": prompt}]}], "generationConfig": {"maxOutputTokens": 1024}}


def tools(body: Mapping[str, Any]) -> List[Tuple[Any, Any]]:
    """(name, JSON schema) of each function the request's first tool declares (none with mode ``NONE``)."""
    offered = body.get("tools")
    config = body.get("toolConfig")
    calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(offered, list) or not offered or (isinstance(calling, dict) and calling.get("mode") == "NONE"):
        return []
    declarations = offered[0].get("functionDeclarations") if isinstance(offered[0], dict) else None
    functions = [function for function in declarations if isinstance(function, dict)] if isinstance(declarations, list) else []
    return [(function.get("name"), function.get("parameters", function.get("parametersJsonSchema"))) for function in functions]


def wants_usage(body: Mapping[str, Any]) -> bool:
    """Every chunk carries ``usageMetadata``."""
    return True


def error_body(status: int, message: str) -> Dict[str, Any]:
    """The error object Google answers an HTTP error with."""
    return {"error": error_object(message, status)}


def follow_up(body: Mapping[str, Any], thinking: bool) -> List[Answered]:
    """The function responses the request's ``contents`` send back; :class:`~.base.Refusal` for what Google refuses.

    The ``functionCall`` parts of a model turn need their ``functionResponse``
    parts, all in the ONE user content right after it (matched by ``id``, or
    by name in order when the call had none); a response must answer a call
    of that turn. A *thinking* model's first ``functionCall`` part must carry
    the ``thoughtSignature`` the gateway gave it.
    """
    contents = body.get("contents")
    contents = [content for content in contents if isinstance(content, dict)] if isinstance(contents, list) else []
    answered = []  # type: List[Answered]
    pending = []  # type: List[Mapping[str, Any]]  # the functionCall objects of the model turn before
    for number, content in enumerate(contents):
        parts = [part for part in content.get("parts") or [] if isinstance(part, dict)]
        if content.get("role") == "model":
            _no_missing_responses(pending, number)
            call_parts = [part for part in parts if isinstance(part.get("functionCall"), dict)]
            if thinking and call_parts and call_parts[0].get("thoughtSignature") != _thought_signature(call_parts[0]["functionCall"].get("name")):
                raise Refusal("contents[%d]: Function call is missing a thought_signature in functionCall parts." % number)
            pending = [part["functionCall"] for part in call_parts]
            continue
        for response in (part["functionResponse"] for part in parts if isinstance(part.get("functionResponse"), dict)):
            key = "id" if response.get("id") else "name"
            call = next((call for call in pending if call.get(key) == response.get(key) and (key == "id" or not call.get("id"))), None)
            if call is None:
                raise Refusal("contents[%d]: function response %s=%r matches no function call of the model turn right before it"
                              % (number, key, response.get(key)))  # fmt: skip
            pending.remove(call)
            answered.append((str(call.get("name")), output_of(response.get("response"))))
        _no_missing_responses(pending, number)
    _no_missing_responses(pending, len(contents))
    return answered


def _no_missing_responses(pending: List[Mapping[str, Any]], number: int) -> None:
    if pending:
        raise Refusal("contents[%d]: please ensure that the number of function response parts is equal to the number of "
                      "function call parts of the function call turn (no response for %s)"
                      % (number, ", ".join(str(call.get("name")) for call in pending)))  # fmt: skip


def _thought_signature(name: Any) -> str:
    return signature("thought", name)


def thinking(reasoning: str, tool_calls: Sequence[ToolCallSpec]) -> Dict[str, Any]:
    """The builder options of a thinking model's tool-call turn: thought parts, and the first call signed."""
    return {"reasoning": reasoning, "signature": _thought_signature(tool_calls[0]["name"] if tool_calls else None)}
