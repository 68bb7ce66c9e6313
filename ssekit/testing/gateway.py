"""The embedded local LLM gateway: every wire format at its usual path, on a real local server.

:class:`LocalGateway` answers POSTs at each format's path (its testing twin's
``PATH``: ``/v1/chat/completions``, ``/v1/responses``, ``/v1/messages``,
``/v1/generate``, ``/v1beta/models/{model}:streamGenerateContent`` for any
model...) from the request JSON: the model (or the model in the path), the
messages or input, ``stream`` (or the path that names streaming), the
output-token cap and ``tools``. Streams carry a canned multi-sentence answer token by token at
a configurable pace, then usage and a finish reason; non-streamed requests get
the complete JSON result. Offered tools are called, ``parallel_tool_calls`` at a
time, until the history holds a result for each; then the answer quotes the
results it received. A follow-up request is checked as the real API checks it
(each twin's ``follow_up``): results that match no call, calls without their
result, thinking or reasoning that did not come back unchanged and in place get
the provider's 400. ``GET /v1/events`` is a plain SSE feed (job
progress with ids and reconnections) for ``follow_sse``. Faults can be queued
(an HTTP error, a stall, a cut after some tokens or at any byte) to show
timeouts, retries and resumption.

Streams can be resumed as the real APIs allow. A Responses request with
``"background": true`` is kept in memory (:data:`KEEP_SECONDS`):
``GET /v1/responses/{id}?stream=true&starting_after=N`` streams it again after
``sequence_number`` N (repeating the lifecycle events first, as the API may),
for :attr:`LocalGateway.resume_window` seconds after its creation (later: a
400), and ``GET /v1/responses/{id}`` returns the response object (``in_progress``
for the first :attr:`LocalGateway.pending_polls` polls). With
``resumable=True`` every other stream carries ``id: 1``, ``id: 2``... and
``GET /v1/streams/{id}`` (the answer's id) continues it after ``Last-Event-ID``.
A queued fault applies to the next stream, continuations included. The ``ssekit
demo`` / ``serve`` commands, the examples and the tests all use it.
Standard library only.
"""
import functools
import itertools
import json
import threading
import time
from collections import deque
from types import ModuleType
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import parse_qs

from ..errors import SSEKitError
from ..formats import FORMATS
from ..formats.base import BEARER
from ..sse import iter_sse
from .builders import build_events, build_result, split_tokens
from .providers import PROVIDERS
from .providers.base import Answered, Refusal, text_of
from .server import RecordedRequest, RouteFunction, ScriptedResponse, SSEServer

__all__ = [
    "DEFAULT_ANSWER",
    "DEFAULT_MODEL",
    "DEFAULT_PROMPT",
    "FEED_PATH",
    "KEEP_SECONDS",
    "PATHS",
    "RESUME_WINDOW",
    "STREAMS_PATH",
    "LocalGateway",
    "sample_request",
]

#: A route's answer and the note logged with it.
Answer = Tuple[ScriptedResponse, str]

#: The endpoint of each wire format, as clients call it (``{model}`` stands for the model, a query may follow).
PATHS = {name: provider.PATH for name, provider in PROVIDERS.items()}  # type: Dict[str, str]
#: The plain SSE feed (``GET``): job progress events with ids, for ``follow_sse``.
FEED_PATH = "/v1/events"
#: Resumable plain streams (``LocalGateway(resumable=True)``): ``GET`` with ``Last-Event-ID`` continues one.
STREAMS_PATH = "/v1/streams/{id}"
#: Seconds a background response or a resumable stream is kept in memory.
KEEP_SECONDS = 600.0
#: Seconds after its creation a background response can be streamed again (later the API refuses: one report says 5 minutes).
RESUME_WINDOW = 300.0
#: The model name the gateway reports when asked for it by examples and the demo.
DEFAULT_MODEL = "ssekit-local"
#: The question the demo asks.
DEFAULT_PROMPT = "What are server-sent events, and why do LLM APIs use them?"
#: What the gateway answers, token by token.
DEFAULT_ANSWER = (
    "Server-sent events are a simple way for a server to push a stream of messages over one long HTTP "
    "response. Each event is a few lines of text, such as data: followed by a JSON payload, and a blank "
    "line ends it. LLM APIs use them to send an answer token by token, so a program can show the text "
    "while the model is still writing. At the end of the stream come the finish reason and the token "
    "usage, and ssekit rebuilds all of it into one Completion."
)

#: Steps of the plain feed, and how many the server sends per connection before it drops it.
FEED_STEPS = 6
FEED_BATCH = 2
#: The reconnection delay (milliseconds) the feed asks for in its ``retry:`` field.
FEED_RETRY_MS = 100

def sample_request(
    format: str, *, model: str = DEFAULT_MODEL, prompt: str = DEFAULT_PROMPT, stream: bool = True
) -> Dict[str, Any]:
    """A minimal, realistic request body for *format* (what the demo and ``serve`` show)."""
    provider = PROVIDERS.get(format)
    if provider is None:
        raise _unknown(format)
    return provider.sample_request(model, prompt, stream)  # type: ignore[no-any-return]


def _unknown(format: str) -> SSEKitError:
    return SSEKitError("unknown gateway format %r; valid: %s" % (format, ", ".join(sorted(PATHS))))


class _BadRequest(Exception):
    """A request the gateway refuses (answered with an HTTP error in the format's shape)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Fault:
    """One queued fault: an HTTP error, or a stream that stalls or is cut after some tokens (or at a byte)."""

    def __init__(
        self, kind: str, *, status: int = 0, retry_after: Any = None, message: str = "", after_tokens: int = 0,
        at_byte: Optional[int] = None, at_event: Optional[int] = None
    ) -> None:
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.message = message
        self.after_tokens = after_tokens
        self.at_byte = at_byte
        self.at_event = at_event

    def cut_offset(self, events: List[bytes]) -> Optional[int]:
        """The body offset a cut by byte falls at in *events* (None: the cut counts tokens)."""
        if self.at_event is None:
            return self.at_byte
        return sum(len(event) for event in events[: self.at_event]) + (self.at_byte or 0)


class _Kept:
    """A stream kept for resumption: its format and events, when it was made; *final* for a background response."""

    def __init__(self, format: str, events: List[bytes], final: Optional[Dict[str, Any]] = None) -> None:
        self.format = format
        self.events = events
        self.final = final
        self.created = time.monotonic()
        self.polls = 0


class LocalGateway:
    """A local LLM gateway on 127.0.0.1 speaking every wire format (see the module docstring).

    Use it as a context manager or call :meth:`start` / :meth:`close`. Its
    :attr:`server` is the underlying :class:`SSEServer` (add scripted routes to
    it, read its recorded ``requests``). With *api_key* set, requests must carry
    it in the header its format's API reads (see each format's ``KeyHeader``), else they get
    that provider's 401.
    *log*, if given, receives one line per request (never a header value).
    With *thinking*, the gateway acts as a thinking model: its tool-call turns
    carry reasoning (signed thinking blocks, reasoning items with
    ``encrypted_content``, thought signatures, ``reasoning_content``) that must
    come back unchanged, and a Chat Completions tool-call turn sent back
    without ``reasoning_content`` is refused, as DeepSeek's thinking mode does.
    *parallel_tool_calls* is how many of the offered tools one turn calls.
    With *resumable*, streams carry event ids and can be continued (see the
    module docstring; background Responses always can).
    """

    def __init__(
        self,
        *,
        pace: float = 0.0,
        answer: str = DEFAULT_ANSWER,
        api_key: Optional[str] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Optional[Callable[[str], None]] = None,
        thinking: bool = False,
        parallel_tool_calls: int = 1,
        resumable: bool = False,
    ) -> None:
        #: Seconds between two events of a stream (may be changed at any time).
        self.pace = pace
        self.answer = answer
        self.thinking = thinking
        self.parallel_tool_calls = parallel_tool_calls
        self.resumable = resumable
        #: Seconds after creation a background response can be streamed again (0: refused at once).
        self.resume_window = RESUME_WINDOW
        #: Polls of a background response answered ``in_progress`` before its result.
        self.pending_polls = 0
        self.server = SSEServer(host, port)
        self._api_key = api_key
        self._log = log
        self._faults = deque()  # type: Deque[_Fault]
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._kept = {}  # type: Dict[str, _Kept]
        for name, provider in PROVIDERS.items():
            result_path = getattr(provider, "RESULT_PATH", None)  # type: Optional[str]
            # Where the path names streaming, each path says it; elsewhere the body's "stream" does.
            for path, streamed in ((provider.PATH, True if result_path else None), (result_path, False)):
                if path:
                    self.server.route(path.partition("?")[0], self._logged(functools.partial(self._answer, name, streamed), name))
        self.server.route(FEED_PATH, self._logged(self._feed))
        self.server.route(PROVIDERS["responses"].RETRIEVE_PATH, self._logged(self._retrieve, "responses"))
        self.server.route(STREAMS_PATH, self._logged(self._continue))

    def __repr__(self) -> str:
        return "<LocalGateway %r pace=%r>" % (self.server, self.pace)

    def __enter__(self) -> "LocalGateway":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def start(self) -> "LocalGateway":
        """Start serving in background threads; returns the gateway."""
        self.server.start()
        return self

    def close(self) -> None:
        """Stop serving and close every connection (promptly, even mid-stream)."""
        self.server.close()

    @property
    def base_url(self) -> str:
        """The API base URL, ``http://127.0.0.1:PORT/v1`` (what SDKs call ``base_url``)."""
        return self.server.url("/v1")

    def url(self, format: str = "chat_completions", *, model: str = DEFAULT_MODEL, stream: bool = True) -> str:
        """The endpoint URL of *format* (a :data:`PATHS` name).

        *model* fills a path that names the model (Gemini's); ``stream=False`` gives the
        non-streamed endpoint of an API that names streaming in the path (elsewhere the body's
        ``stream`` decides, and the URL is the same).
        """
        if format not in PATHS:
            raise _unknown(format)
        path = PATHS[format] if stream else getattr(PROVIDERS[format], "RESULT_PATH", None) or PATHS[format]
        return self.server.url(path.replace("{model}", model))

    @property
    def feed_url(self) -> str:
        """The URL of the plain SSE feed (``GET``), for ``follow_sse``."""
        return self.server.url(FEED_PATH)

    @property
    def requests(self) -> List[RecordedRequest]:
        """Every request received so far (method, path, headers, body)."""
        return self.server.requests

    # --- faults ---------------------------------------------------------------

    def fail_next(self, status: int = 429, *, times: int = 1, retry_after: Any = None, message: Optional[str] = None) -> None:
        """Answer the next *times* completion requests with HTTP *status* (optionally ``Retry-After``)."""
        text = message or "simulated %d from the local gateway" % status
        self._queue([_Fault("status", status=status, retry_after=retry_after, message=text) for _ in range(times)])

    def stall_next(self, after_tokens: int = 0) -> None:
        """Make the next stream send *after_tokens* tokens, then nothing (the connection stays open)."""
        self._queue([_Fault("stall", after_tokens=after_tokens)])

    def cut_next(
        self, after_tokens: int = 0, *, at_byte: Optional[int] = None, at_event: Optional[int] = None, times: int = 1
    ) -> None:
        """Make the next *times* streams send *after_tokens* tokens, then drop the connection.

        With *at_byte* the cut falls after that many bytes of the body, anywhere (inside an event too);
        with *at_event* too, they count from the start of that event (0-based) of the stream.
        """
        self._queue([_Fault("cut", after_tokens=after_tokens, at_byte=at_byte, at_event=at_event) for _ in range(times)])

    def _queue(self, faults: List[_Fault]) -> None:
        with self._lock:
            self._faults.extend(faults)

    def _next_fault(self) -> Optional[_Fault]:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # --- the completion endpoints ------------------------------------------------

    def _logged(self, answer: Callable[[RecordedRequest], Answer], format: Optional[str] = None) -> RouteFunction:
        """A route function: *answer* the request (refusals in *format*'s error shape), log one line."""

        def handle(request: RecordedRequest) -> ScriptedResponse:
            try:
                response, note = answer(request)
            except _BadRequest as exc:
                response, note = _error_response(format, exc.status, exc.message), exc.message
            if self._log is not None:
                self._log("%s %s -> %d %s" % (request.method, request.path, response.status, note))
            return response

        return handle

    def _answer(self, format: str, streamed: Optional[bool], request: RecordedRequest) -> Answer:
        """A completion: read the request, apply a queued fault, stream or return the canned answer.

        *streamed* is what the path says (None: the body's ``stream`` decides).
        """
        if request.method != "POST":
            raise _BadRequest(405, "use POST for %s" % request.path)
        self._check_key(request, format)
        body = request.json()
        if not isinstance(body, dict):
            raise _BadRequest(400, "the request body must be a JSON object")
        model = request.params.get("model") or body.get("model")
        if not isinstance(model, str) or not model:
            raise _BadRequest(400, "'model' is required")
        provider = PROVIDERS[format]
        prompt = _prompt_text(provider, body)
        limit = _max_tokens(provider, body)
        answered = _answered(provider, body, self.thinking)
        tool_calls = _tool_calls(provider, body, answered, self.parallel_tool_calls)
        fault = self._next_fault()
        if fault is not None and fault.kind == "status":
            return _fault_response(format, fault), "(queued fault)"
        tokens = split_tokens(_quoted(answered) if answered else self.answer)
        if tool_calls:
            tokens, finish = [], "tool_calls"
        elif limit is not None and limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
        else:
            finish = "stop"
        output = len(tokens) + sum(len(split_tokens(call["arguments"])) for call in tool_calls)
        usage = {"input_tokens": len(split_tokens(prompt)), "output_tokens": output}
        number = next(self._ids)
        options = dict(tokens=tokens, tool_calls=tool_calls, usage=usage, finish_reason=finish, model=model, id=provider.ID_PREFIX + str(number))
        headers = {"x-request-id": "req_local_%d" % number}
        if not (body.get("stream") is True if streamed is None else streamed):
            return ScriptedResponse.json(build_result(format, **options), headers=headers), "result, model %s" % model
        if not provider.wants_usage(body):
            options["usage"] = None
        if self.thinking and tool_calls:
            options.update(provider.thinking("I will call %s." % " and ".join(call["name"] for call in tool_calls), tool_calls))
        events = build_events(format, **options)
        if format == "responses" and body.get("background") is True:
            self._keep(options["id"], _Kept(format, events, provider.final_response(events)))
        elif self.resumable:
            events = [b"id: %d\n" % number + event for number, event in enumerate(events, 1)]
            self._keep(options["id"], _Kept(format, events))
        response = self._stream(format, events, headers, fault)
        return response, "stream, model %s%s" % (model, " (queued %s)" % fault.kind if fault else "")

    def _stream(self, format: str, events: List[bytes], headers: Dict[str, str], fault: Optional[_Fault]) -> ScriptedResponse:
        if fault is None:
            return ScriptedResponse.sse(events, headers=headers, interval=self.pace)
        offset = fault.cut_offset(events)
        if offset is not None:
            return ScriptedResponse.sse(events, headers=headers, interval=self.pace, cut_after=offset)
        kept = events[: _events_for_tokens(format, events, fault.after_tokens)]
        if fault.kind == "stall":
            return ScriptedResponse.sse(kept, headers=headers, interval=self.pace, stall=True)
        return ScriptedResponse.sse(kept, headers=headers, interval=self.pace, cut_after=sum(len(item) for item in kept))

    def _check_key(self, request: RecordedRequest, format: Optional[str] = None) -> None:
        """Refuse a request whose key is not in the header the real API of *format* reads."""
        if self._api_key is None:
            return
        spec = FORMATS[format].key_header if format in FORMATS else BEARER
        given = request.headers.get(spec.name, "")
        if not given.startswith(spec.prefix) or given[len(spec.prefix):] != self._api_key:
            raise _BadRequest(401, "invalid or missing API key (expected in the %s header)" % spec.name)

    # --- resumption ------------------------------------------------------------------

    def _keep(self, id: str, kept: _Kept) -> None:
        with self._lock:
            now = time.monotonic()
            for old in [key for key, value in self._kept.items() if now - value.created > KEEP_SECONDS]:
                del self._kept[old]
            self._kept[id] = kept

    def _find(self, request: RecordedRequest, format: Optional[str] = None) -> _Kept:
        """The kept stream the request names (a GET, with the right key), else the provider's refusal."""
        if request.method != "GET":
            raise _BadRequest(405, "use GET for %s" % request.path)
        self._check_key(request, format)
        with self._lock:
            kept = self._kept.get(request.params.get("id", ""))
        if kept is None or (format is not None and kept.final is None):
            raise _BadRequest(404, "No response found with id '%s'." % request.params.get("id"))
        return kept

    def _retrieve(self, request: RecordedRequest) -> Answer:
        """``GET /v1/responses/{id}``: the response object, or (``stream=true``) its stream after ``starting_after``."""
        kept = self._find(request, "responses")
        query = parse_qs(request.query)
        if query.get("stream") != ["true"]:
            kept.polls += 1
            ready = kept.polls > self.pending_polls
            assert kept.final is not None
            return ScriptedResponse.json(kept.final if ready else PROVIDERS["responses"].pending(kept.final)), "poll"
        if time.monotonic() - kept.created >= self.resume_window:
            raise _BadRequest(400, "This response can no longer be streamed; retrieve it without stream=true.")
        after = (query.get("starting_after") or ["-1"])[0]
        if not after.lstrip("-").isdigit():
            raise _BadRequest(400, "'starting_after' must be an integer")
        return self._continued(kept, PROVIDERS["responses"].continuation(kept.events, int(after)), "after %s" % after)

    def _continue(self, request: RecordedRequest) -> Answer:
        """``GET /v1/streams/{id}``: a resumable stream continued after its ``Last-Event-ID``."""
        kept = self._find(request)
        last = request.headers.get("Last-Event-ID") or "0"
        if not last.isdigit():
            raise _BadRequest(400, "Last-Event-ID must be an event number")
        return self._continued(kept, kept.events[int(last):], "after id %s" % last)

    def _continued(self, kept: _Kept, events: List[bytes], note: str) -> Answer:
        fault = self._next_fault()
        if fault is not None and fault.kind == "status":
            return _fault_response(kept.format, fault), "(queued fault)"
        return self._stream(kept.format, events, {}, fault), "stream continued %s%s" % (note, " (queued %s)" % fault.kind if fault else "")

    # --- the plain feed ----------------------------------------------------------------

    def _feed(self, request: RecordedRequest) -> Answer:
        """Job progress: ``FEED_BATCH`` events per connection, resumed from ``Last-Event-ID``, then 204."""
        last = request.headers.get("Last-Event-ID") or "0"
        done = int(last) if last.isdigit() else 0
        if done >= FEED_STEPS:
            return ScriptedResponse(status=204, headers={}), "feed finished"
        chunks = []  # type: List[Union[bytes, float]]
        for step in range(done + 1, min(done + FEED_BATCH, FEED_STEPS) + 1):
            data = json.dumps({"step": step, "of": FEED_STEPS, "status": "done" if step == FEED_STEPS else "running"})
            retry = "" if chunks else "retry: %d\n" % FEED_RETRY_MS  # the first event sets the reconnection delay
            chunks.append(("%sid: %d\nevent: progress\ndata: %s\n\n" % (retry, step, data)).encode("utf-8"))
        return ScriptedResponse.sse(chunks, interval=self.pace), "feed from step %d" % (done + 1)


# --- request reading ----------------------------------------------------------------------


def _prompt_text(provider: ModuleType, body: Mapping[str, Any]) -> str:
    """The text of the conversation and system prompt (for input token counts)."""
    required = provider.PROMPT_KEYS  # type: Tuple[str, ...]
    if not any(body.get(key) for key in required):
        raise _BadRequest(400, "'%s' is required" % "' or '".join(required))
    system = (provider.SYSTEM_KEY,) if provider.SYSTEM_KEY else ()
    return " ".join(text for text in (text_of(body.get(key)) for key in required + system) if text)


def _max_tokens(provider: ModuleType, body: Mapping[str, Any]) -> Optional[int]:
    """The cap on output tokens, under the first of the provider's keys present (dots name nested keys)."""
    for key in provider.MAX_TOKENS_KEYS:
        value = body  # type: Any
        for name in key.split("."):
            value = value.get(name) if isinstance(value, dict) else None
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _BadRequest(400, "'%s' must be a positive integer" % key)
            return value
    return None


def _answered(provider: ModuleType, body: Mapping[str, Any], thinking: bool) -> List[Answered]:
    """The (tool name, output) results the request's history sends back; what the API refuses is a 400."""
    try:
        return provider.follow_up(body, thinking)  # type: ignore[no-any-return]
    except Refusal as exc:
        raise _BadRequest(400, str(exc)) from None


def _tool_calls(provider: ModuleType, body: Mapping[str, Any], answered: List[Answered], parallel: int) -> List[Dict[str, str]]:
    """The calls the model "decides" to make: the next *parallel* offered tools without a result yet, with sample arguments."""
    done = {name for name, _ in answered}
    wanted = []  # type: List[Dict[str, str]]
    for number, (name, schema) in enumerate(provider.tools(body)):
        if not isinstance(name, str) or not name:
            raise _BadRequest(400, "tools[%d] has no name" % number)
        if name not in done and len(wanted) < parallel:
            wanted.append({"name": name, "arguments": json.dumps(_sample_arguments(schema))})
    return wanted


def _quoted(answered: List[Answered]) -> str:
    """The final answer after tool calls: what each tool said, quoted."""
    return "The tools said: %s." % "; ".join("%s returned %s" % (name, output) for name, output in answered)


def _sample_arguments(schema: Any) -> Dict[str, Any]:
    """Arguments that fit a JSON schema: each required property gets its enum, default or example value."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        properties = {}
    required = schema.get("required")
    if not isinstance(required, list):
        required = list(properties)
    return {name: _sample_value(properties.get(name)) for name in required if isinstance(name, str)}


_SAMPLES = {"string": "example", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}


def _sample_value(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return "example"
    for key in ("enum", "examples"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema[key][0]
    if "default" in schema:
        return schema["default"]
    if schema.get("type") == "object":
        return _sample_arguments(schema)
    return _SAMPLES.get(schema.get("type"), "example")  # type: ignore[arg-type]


def _events_for_tokens(format: str, events: List[bytes], tokens: int) -> int:
    """How many of *events* carry the first *tokens* text tokens (and what comes before them)."""
    accumulator = FORMATS[format].accumulator()
    seen = 0
    for index, chunk in enumerate(events):
        if any([accumulator.add(sse) for sse in iter_sse([chunk])]):
            if seen == tokens:
                return index
            seen += 1
    return len(events)


def _fault_response(format: Optional[str], fault: _Fault) -> ScriptedResponse:
    """The HTTP error a queued status fault answers with."""
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return _error_response(format, fault.status, fault.message, headers)


def _error_response(format: Optional[str], status: int, message: str, headers: Optional[Dict[str, str]] = None) -> ScriptedResponse:
    """An HTTP error with the JSON body the provider of *format* sends (OpenAI's shape by default)."""
    provider = PROVIDERS.get(format or "chat_completions", PROVIDERS["chat_completions"])
    body = provider.error_body(status, message)
    return ScriptedResponse.json(body, status=status, headers=dict(headers or {}))
