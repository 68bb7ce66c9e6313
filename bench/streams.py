"""The benchmark's streams: fixed, realistic LLM event streams and the results they must give.

Every stream is generated here, deterministically, so the benchmark data never
changes with the library under test. Events look like what the providers send
today: OpenAI ``chat.completion.chunk`` objects of about 300 bytes carrying 1-8
characters of content (with ``service_tier``, ``system_fingerprint``,
``"usage": null`` and the ``obfuscation`` padding), a usage chunk and
``[DONE]``; parallel tool calls whose arguments arrive in fragments; Anthropic
Messages events (``event:`` + ``data:`` lines, ping, a text block and a
``tool_use`` block); the OpenAI Responses API (``sequence_number`` in every
event, the whole text repeated by the closing events, as the API does);
Cohere v2 chat (hyphenated ``event:`` names, a text item, a tool plan and one
tool call, usage with ``billed_units`` and ``tokens``); and
Google Gemini ``streamGenerateContent?alt=sse`` chunks (CRLF line ends, a whole
``GenerateContentResponse`` per event with its running ``usageMetadata``,
``modelVersion`` and ``responseId``; no ``[DONE]``).

``build(fmt, n)`` returns a :class:`Stream` with *n* content events (plus the
few opening and closing ones); :func:`digest` reduces any client's result to
the comparable form held in ``Stream.expected``.
"""
import hashlib
import json
import random
from typing import Any, Dict, List, Optional, Sequence, Tuple

FORMATS = ("chat", "tools", "messages", "responses", "cohere", "gemini")

#: What each SDK is asked for; the server ignores request bodies.
CHAT_MODEL = "gpt-4.1-2025-04-14"
CLAUDE_MODEL = "claude-sonnet-4-6"
GEMINI_MODEL = "gemini-2.5-flash"
INPUT_TOKENS = 42
TOOL_CALLS = 4  # parallel tool calls in the "tools" stream
TOOL_NAMES = ("search_docs", "get_weather", "lookup_order", "run_query")

#: How each format's events end on the wire where it is not LF LF (Google writes CRLF line ends).
SEPARATORS = {"gemini": b"\r\n\r\n"}

# Normalised finish reasons, so raw and normalised answers compare equal.
FINISH = {"end_turn": "stop", "completed": "stop", "tool_use": "tool_calls", "TOOL_CALL": "tool_calls", "STOP": "stop"}

_WORDS = (
    "the of and to in is that it for on with as was be at by this from or an are not but have had "
    "stream token model reply answer event chunk server client python request response latency"
).split()
_ODD = ["\u00e9t\u00e9", " na\u00efve", " \u65e5\u672c", " \u2014", " \U0001f642", "\n", "\n\n", ' "q"', " \\n", ",", ".", "!", " 42", "\t"]
_POOL = 4096  # distinct content pieces, cycled


def _pieces() -> List[str]:
    """4096 content pieces of 1-8 characters: mostly words, some unicode, escapes and newlines."""
    rng = random.Random(20260214)
    pieces = []  # type: List[str]
    while len(pieces) < _POOL:
        piece = rng.choice(_ODD) if rng.random() < 0.12 else (" " if rng.random() < 0.8 else "") + rng.choice(_WORDS)
        pieces.append(piece[:8])
    return pieces


PIECES = _pieces()
_JSON_PIECES = [json.dumps(piece, ensure_ascii=False).encode("utf-8") for piece in PIECES]
# Argument fragments: the same pieces, escaped as they sit inside a JSON string.
_ARG_PIECES = [json.dumps(piece, ensure_ascii=False)[1:-1] for piece in PIECES]


def _pad(i: int) -> bytes:
    """The ``obfuscation`` field: random-looking padding of varying length, as OpenAI sends."""
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return bytes(alphabet[(i * 7 + k * 13) % 62] for k in range(4 + i % 9))


def _event(payload: Any, name: Optional[str] = None) -> bytes:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    head = b"event: " + name.encode("ascii") + b"\n" if name else b""
    return head + b"data: " + data + b"\n\n"


class Stream:
    """One generated stream: its events, which of them carry text, and the expected result.

    With *keep_events* False only ``count`` and ``expected`` are kept (a million
    events would otherwise weigh some 350 MB).
    """

    def __init__(self, fmt: str, n: int, keep_events: bool = True) -> None:
        self.format = fmt
        self.n = n
        self.keep_events = keep_events
        self.count = 0
        self.events = []  # type: List[bytes]
        self.text_flags = []  # type: List[bool]  # event i hands text to the caller
        self.expected = {}  # type: Dict[str, Any]

    def add(self, event: bytes, text: bool = False) -> None:
        self.count += 1
        if self.keep_events:
            self.events.append(event)
            self.text_flags.append(text)

    @property
    def body(self) -> bytes:
        return b"".join(self.events)


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def _canonical(arguments: str) -> str:
    """Tool-call arguments in one form: SDKs that parse them give back an object, not the string."""
    try:
        return json.dumps(json.loads(arguments), sort_keys=True, ensure_ascii=False)
    except ValueError:
        return arguments


def digest(text: str, tool_calls: Sequence[Tuple[Any, Any, str]], usage: Tuple[Any, Any], finish: Any) -> Dict[str, Any]:
    """A client's result in comparable form: text and argument hashes, usage, normalised finish."""
    return {
        "text_len": len(text),
        "text_sha1": _sha1(text),
        "tool_calls": [[call_id, name, _sha1(_canonical(args))] for call_id, name, args in tool_calls],
        "usage": [usage[0], usage[1]],
        "finish": FINISH.get(finish, finish),
    }


# --- OpenAI Chat Completions ---------------------------------------------------

_CHAT_HEAD = (
    b'{"id":"chatcmpl-C3d8bZkPq0uJ7lXoYv2nWm5sT9aRe","object":"chat.completion.chunk","created":1754321098,'
    b'"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_b3f1157249",'
    b'"choices":[{"index":0,"delta":'
)
_CHAT_TAIL = b',"logprobs":null,"finish_reason":%s}],"usage":null,"obfuscation":"%s"}'


def _chat_chunk(delta: bytes, i: int, finish: bytes = b"null") -> bytes:
    return b"data: " + _CHAT_HEAD + delta + _CHAT_TAIL % (finish, _pad(i)) + b"\n\n"


def _chat_usage(output_tokens: int) -> bytes:
    return _event(
        {
            "id": "chatcmpl-C3d8bZkPq0uJ7lXoYv2nWm5sT9aRe",
            "object": "chat.completion.chunk",
            "created": 1754321098,
            "model": CHAT_MODEL,
            "service_tier": "default",
            "system_fingerprint": "fp_b3f1157249",
            "choices": [],
            "usage": {
                "prompt_tokens": INPUT_TOKENS,
                "completion_tokens": output_tokens,
                "total_tokens": INPUT_TOKENS + output_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "obfuscation": "kq3",
        }
    )


def _chat(stream: Stream, n: int) -> None:
    stream.add(_chat_chunk(b'{"role":"assistant","content":"","refusal":null}', 0))
    parts = []
    for i in range(n):
        k = i % _POOL
        parts.append(PIECES[k])
        stream.add(_chat_chunk(b'{"content":' + _JSON_PIECES[k] + b"}", i), True)
    stream.add(_chat_chunk(b"{}", n, b'"stop"'))
    stream.add(_chat_usage(n))
    stream.add(b"data: [DONE]\n\n")
    stream.expected = digest("".join(parts), [], (INPUT_TOKENS, n), "stop")


def _call_id(k: int, prefix: str) -> str:
    return "%s%02dAbCdEfGhIjKlMnOpQrStUv" % (prefix, k)


def _tools(stream: Stream, n: int) -> None:
    """Four parallel calls, one after the other by index, arguments in 1-8 character fragments."""
    stream.add(_chat_chunk(b'{"role":"assistant","content":null,"refusal":null}', 0))
    calls = []
    for k in range(TOOL_CALLS):
        opening = {"index": k, "id": _call_id(k, "call_"), "type": "function", "function": {"name": TOOL_NAMES[k], "arguments": ""}}
        stream.add(_chat_chunk(b'{"tool_calls":' + json.dumps([opening], separators=(",", ":")).encode() + b"}", k))
        fragments = ['{"query":"'] + [_ARG_PIECES[i % _POOL] for i in range(k * n // TOOL_CALLS, (k + 1) * n // TOOL_CALLS)] + ['"}']
        for i, fragment in enumerate(fragments):
            delta = {"tool_calls": [{"index": k, "function": {"arguments": fragment}}]}
            stream.add(_chat_chunk(json.dumps(delta, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), i))
        calls.append((_call_id(k, "call_"), TOOL_NAMES[k], "".join(fragments)))
    stream.add(_chat_chunk(b"{}", n, b'"tool_calls"'))
    stream.add(_chat_usage(n))
    stream.add(b"data: [DONE]\n\n")
    stream.expected = digest("", calls, (INPUT_TOKENS, n), "tool_calls")


# --- Anthropic Messages ----------------------------------------------------------


def _messages(stream: Stream, n: int) -> None:
    message = {  # type: Dict[str, Any]
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE_MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": INPUT_TOKENS,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
            "service_tier": "standard",
        },
    }
    stream.add(_event({"type": "message_start", "message": message}, "message_start"))
    stream.add(_event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start"))
    stream.add(_event({"type": "ping"}, "ping"))
    head = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":'
    parts = []
    for i in range(n):
        k = i % _POOL
        parts.append(PIECES[k])
        stream.add(head + _JSON_PIECES[k] + b"}}\n\n", True)
    stream.add(_event({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    call_id = _call_id(0, "toolu_")
    tool = {"type": "tool_use", "id": call_id, "name": TOOL_NAMES[0], "input": {}}
    stream.add(_event({"type": "content_block_start", "index": 1, "content_block": tool}, "content_block_start"))
    fragments = ["", '{"query": "'] + _ARG_PIECES[:16] + ['"}']
    for fragment in fragments:
        delta = {"type": "input_json_delta", "partial_json": fragment}
        stream.add(_event({"type": "content_block_delta", "index": 1, "delta": delta}, "content_block_delta"))
    stream.add(_event({"type": "content_block_stop", "index": 1}, "content_block_stop"))
    end = {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": n}}
    stream.add(_event(end, "message_delta"))
    stream.add(_event({"type": "message_stop"}, "message_stop"))
    stream.expected = digest("".join(parts), [(call_id, TOOL_NAMES[0], "".join(fragments))], (INPUT_TOKENS, n), "tool_use")


# --- OpenAI Responses -------------------------------------------------------------

_RESP_ID = "resp_68a1f0c2b7d88190a3e4f5d6c7b8a9e0"
_ITEM_ID = "msg_68a1f0c3d4e58190b1c2d3e4f5a6b7c8"


def _response(status: str, output: List[Any], usage: Any) -> Dict[str, Any]:
    return {
        "id": _RESP_ID,
        "object": "response",
        "created_at": 1754321098,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": CHAT_MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _responses(stream: Stream, n: int) -> None:
    seq = [0]

    def emit(kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": seq[0]}
        payload.update(fields)
        stream.add(_event(payload, kind))
        seq[0] += 1

    where = {"item_id": _ITEM_ID, "output_index": 0, "content_index": 0}
    emit("response.created", response=_response("in_progress", [], None))
    emit("response.in_progress", response=_response("in_progress", [], None))
    item = {"id": _ITEM_ID, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    emit("response.output_item.added", output_index=0, item=item)
    emit("response.content_part.added", part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""}, **where)
    head = (
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":%d,'
        b'"item_id":"' + _ITEM_ID.encode() + b'","output_index":0,"content_index":0,"delta":'
    )
    parts = []
    for i in range(n):
        k = i % _POOL
        parts.append(PIECES[k])
        stream.add(head % seq[0] + _JSON_PIECES[k] + b',"logprobs":[],"obfuscation":"' + _pad(i) + b'"}\n\n', True)
        seq[0] += 1
    text = "".join(parts)
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    emit("response.output_text.done", text=text, logprobs=[], **where)
    emit("response.content_part.done", part=part, **where)
    done_item = dict(item, status="completed", content=[part])
    emit("response.output_item.done", output_index=0, item=done_item)
    usage = {
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": n,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + n,
    }
    emit("response.completed", response=_response("completed", [done_item], usage))
    stream.expected = digest(text, [], (INPUT_TOKENS, n), "completed")


# --- Cohere v2 chat ---------------------------------------------------------------


def _cohere(stream: Stream, n: int) -> None:
    start = {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}
    stream.add(_event({"id": "7f3c2a10-5b8e-4d1f-a6c9-0e2b4d6f8a13", "type": "message-start", "delta": start}, "message-start"))
    stream.add(_event({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}, "content-start"))
    head = b'event: content-delta\ndata: {"type":"content-delta","index":0,"delta":{"message":{"content":{"text":'
    parts = []
    for i in range(n):
        k = i % _POOL
        parts.append(PIECES[k])
        stream.add(head + _JSON_PIECES[k] + b"}}}}\n\n", True)
    stream.add(_event({"type": "content-end", "index": 0}, "content-end"))
    for piece in PIECES[:12]:
        stream.add(_event({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}}, "tool-plan-delta"))
    call_id = "%s_%s" % (TOOL_NAMES[0], "q8gr2ydwzq6p")
    call = {"id": call_id, "type": "function", "function": {"name": TOOL_NAMES[0], "arguments": ""}}
    stream.add(_event({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": call}}}, "tool-call-start"))
    fragments = ['{"query": "'] + _ARG_PIECES[:16] + ['"}']
    for fragment in fragments:
        delta = {"message": {"tool_calls": {"function": {"arguments": fragment}}}}
        stream.add(_event({"type": "tool-call-delta", "index": 0, "delta": delta}, "tool-call-delta"))
    stream.add(_event({"type": "tool-call-end", "index": 0}, "tool-call-end"))
    usage = {"billed_units": {"input_tokens": INPUT_TOKENS, "output_tokens": n}, "tokens": {"input_tokens": INPUT_TOKENS, "output_tokens": n}}
    stream.add(_event({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": usage}}, "message-end"))
    stream.expected = digest("".join(parts), [(call_id, TOOL_NAMES[0], "".join(fragments))], (INPUT_TOKENS, n), "TOOL_CALL")


# --- Google Gemini ----------------------------------------------------------------

_GEMINI_ID = "Zq4CaN_8G4ub1dkPuq2m8Qs"


def _gemini_chunk(part: bytes, made: int, finish: bytes = b"") -> bytes:
    """One chunk as Google writes it (``": "`` after keys, CRLF line ends), the running usage in it."""
    return (
        b'data: {"candidates": [{"content": {"parts": [' + part + b'],"role": "model"},' + finish + b'"index": 0}],'
        b'"usageMetadata": {"promptTokenCount": %d,"candidatesTokenCount": %d,"totalTokenCount": %d,'
        b'"promptTokensDetails": [{"modality": "TEXT","tokenCount": %d}]},"modelVersion": "' % (INPUT_TOKENS, made, INPUT_TOKENS + made, INPUT_TOKENS)
        + GEMINI_MODEL.encode() + b'","responseId": "' + _GEMINI_ID.encode() + b'"}\r\n\r\n'
    )


def _gemini(stream: Stream, n: int) -> None:
    parts = []
    for i in range(n):
        k = i % _POOL
        parts.append(PIECES[k])
        stream.add(_gemini_chunk(b'{"text": ' + _JSON_PIECES[k] + b"}", i + 1), True)
    stream.add(_gemini_chunk(b'{"text": ""}', n, b'"finishReason": "STOP",'))
    stream.expected = digest("".join(parts), [], (INPUT_TOKENS, n), "STOP")


_BUILDERS = {"chat": _chat, "tools": _tools, "messages": _messages, "responses": _responses, "cohere": _cohere, "gemini": _gemini}


def build(fmt: str, n: int, keep_events: bool = True) -> Stream:
    """The stream of format *fmt* (one of :data:`FORMATS`) with *n* content events."""
    stream = Stream(fmt, n, keep_events)
    _BUILDERS[fmt](stream, n)
    return stream


def request_body(fmt: str) -> Dict[str, Any]:
    """The JSON body the hand-written clients POST (the server ignores it)."""
    if fmt == "messages":
        return {"model": CLAUDE_MODEL, "max_tokens": 1024, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    if fmt == "responses":
        return {"model": CHAT_MODEL, "input": "Hi", "stream": True}
    if fmt == "cohere":
        return {"model": "command-a-03-2025", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    if fmt == "gemini":
        return {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    return {"model": CHAT_MODEL, "stream": True, "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": "Hi"}]}


def memory_block() -> Tuple[bytes, int]:
    """The block of chat content events the memory run repeats, and how many events it holds."""
    events = [_chat_chunk(b'{"content":' + _JSON_PIECES[i] + b"}", i) for i in range(200)]
    return b"".join(events), len(events)


def memory_events(total_bytes: int) -> int:
    """How many events the memory run of *total_bytes* sends ([DONE] included)."""
    block, count = memory_block()
    return -(-total_bytes // len(block)) * count + 1
