"""Serve a stream on: :func:`relay` turns an upstream stream into a WSGI response (standard library only).

A backend proxy keeps the provider's API key on the server and streams the
answer to the browser. ``relay(stream)`` gives the WSGI app its response::

    r = ssekit.relay(ssekit.stream_completion(url, json=body, api_key=key))
    start_response(r.status, r.headers)
    return r

The upstream is read in a worker thread into a small queue, so the WSGI
thread can write keep-alive comments while the upstream is silent: a WSGI app
learns that the client left only when a write fails, so the heartbeats are
what bound the time an abandoned upstream request lives. When the WSGI server
calls :meth:`Relay.close` (the client left, or the response ended) the
upstream is cancelled at once and the worker joined.

Each upstream event becomes one ``bytes`` item of the iterable (the server
sends it as one write, nothing is buffered), either the event itself
(pass-through) or, with ``convert=``, the frames of another wire format
carrying the same text. A failure of the upstream becomes an ``event: error``
frame, never a silent end. Nothing of the upstream request's secrets (its key
headers, key-like URL parameters, and any *redact* strings) reaches the
downstream bytes: every event and message is passed through
:meth:`ssekit._text.Secrets.redact` (event by event: a key that an upstream
split across several events could only be found by holding text back).
"""
import json
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union, cast

from ._text import Secrets, printable
from .completion import Completion
from .errors import InvalidRequestError, SSEKitError, StreamError
from .formats import Accumulator, FormatName, new_accumulator
from .sse import ServerSentEvent, encode_comment

if TYPE_CHECKING:  # pragma: no cover - the relay does not import the HTTP layers
    from typing_extensions import Literal

    from .stream import CompletionStream

    #: The output formats ``convert=`` takes (None: pass the upstream events through).
    OutputName = Literal["generation", "chat_completions"]
else:
    OutputName = str

__all__ = ["DEFAULT_HEARTBEAT", "OUTPUTS", "Relay", "relay"]

#: Seconds of downstream silence after which a keep-alive comment is sent.
DEFAULT_HEARTBEAT = 15.0
#: Upstream events the worker may read ahead of a slow client before it waits (back-pressure).
QUEUE_SIZE = 256
#: The headers of every relayed response; none is hop-by-hop (wsgiref refuses Connection,
#: Keep-Alive, Transfer-Encoding: the server frames the body itself).
HEADERS = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),  # nginx: do not buffer the stream
)
_KEEP_ALIVE = encode_comment("keep-alive")
_DONE = ServerSentEvent(data="[DONE]").encode()

# What the worker hands over: an event, the end of the upstream, or its failure.
_EVENT, _END, _FAILED = range(3)
_Item = Tuple[int, Any]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _Output:
    """Pass-through: the upstream events as they are; errors as ``{"error": {"message", "type"}}``."""

    name = None  # type: Optional[str]

    def __init__(self) -> None:
        self.started = False

    def start(self, completion: Completion) -> List[str]:
        """The data of the frames that open the stream (sent before the first text)."""
        return []

    def delta(self, text: str) -> List[str]:
        """The data of the frames carrying one text delta."""
        return []

    def end(self, completion: Completion) -> List[str]:
        """The data of the frames that close a complete stream."""
        return []

    def error(self, message: str, kind: str, code: Any) -> str:
        """The data of the ``event: error`` frame for an upstream failure."""
        detail = {"message": message, "type": kind}  # type: Dict[str, Any]
        if code is not None:
            detail["code"] = code
        return _json({"error": detail})


class _GenerationOutput(_Output):
    """The gateway ``generation`` frames: start, ``content_delta`` per text delta, end with usage, ``[DONE]``."""

    name = "generation"

    def start(self, completion: Completion) -> List[str]:
        frame = {"type": "generation_start"}  # type: Dict[str, Any]
        frame.update((key, value) for key, value in (("id", completion.id), ("model", completion.model)) if value)
        return [_json(frame)]

    def delta(self, text: str) -> List[str]:
        return [_json({"type": "content_delta", "delta": text})]

    def end(self, completion: Completion) -> List[str]:
        frame = {"type": "generation_end"}  # type: Dict[str, Any]
        usage = completion.usage
        counts = (("tokens_used", usage.total_tokens), ("input_tokens", usage.input_tokens),
                  ("output_tokens", usage.output_tokens), ("finish_reason", completion.finish_reason))  # fmt: skip
        frame.update((key, value) for key, value in counts if value is not None)
        return [_json(frame), "[DONE]"]

    def error(self, message: str, kind: str, code: Any) -> str:
        return _json({"type": "error", "message": message, "code": code if code is not None else kind})


class _ChatCompletionsOutput(_Output):
    """OpenAI ``chat.completion.chunk`` frames: a role chunk, ``delta.content`` chunks, a finish chunk,
    a usage chunk (``choices: []``, when the upstream reported usage), ``[DONE]``."""

    name = "chat_completions"

    def __init__(self) -> None:
        super().__init__()
        self._head = {}  # type: Dict[str, Any]

    def _chunk(self, choices: List[Any], **extra: Any) -> str:
        return _json(dict(self._head, choices=choices, **extra))

    def start(self, completion: Completion) -> List[str]:
        self._head = {"id": completion.id or "chatcmpl-relay", "object": "chat.completion.chunk",
                      "created": int(time.time()), "model": completion.model or ""}  # fmt: skip
        return [self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]

    def delta(self, text: str) -> List[str]:
        return [self._chunk([{"index": 0, "delta": {"content": text}, "finish_reason": None}])]

    def end(self, completion: Completion) -> List[str]:
        frames = [self._chunk([{"index": 0, "delta": {}, "finish_reason": completion.finish_reason or "stop"}])]
        usage = completion.usage
        counts = {name: count for name, count in (("prompt_tokens", usage.input_tokens), ("completion_tokens", usage.output_tokens),
                                                  ("total_tokens", usage.total_tokens)) if count is not None}  # fmt: skip
        if counts:  # (a count the upstream did not report is left out, not made up)
            frames.append(self._chunk([], usage=counts))
        return frames + ["[DONE]"]


#: Output format name -> its frame writer (``convert=`` takes these names).
OUTPUTS = {output.name: output for output in (_GenerationOutput, _ChatCompletionsOutput)}  # type: Dict[Optional[str], Callable[[], _Output]]


def _frames(data: Iterable[str], event: str = "message") -> bytes:
    """The SSE bytes of frames holding each of *data* (one write)."""
    return b"".join(ServerSentEvent(event=event, data=item).encode() for item in data)


class Relay:
    """A WSGI response body relaying an upstream stream; made by :func:`relay` (see it for the options).

    Iterate it once (the WSGI server does); :attr:`status` and :attr:`headers`
    go to ``start_response``. :meth:`close` cancels the upstream and joins the
    worker thread; a relay never iterated starts no thread.
    """

    #: The status line for ``start_response``: the stream starts at once, so failures come as error frames.
    status = "200 OK"

    def __init__(
        self,
        source: "Union[CompletionStream, Iterable[ServerSentEvent]]",
        *,
        heartbeat: Optional[float] = DEFAULT_HEARTBEAT,
        convert: "Optional[OutputName]" = None,
        format: "FormatName" = "auto",
        redact: Iterable[str] = (),
        join_timeout: float = 5.0
    ) -> None:
        if heartbeat is not None and (isinstance(heartbeat, bool) or not isinstance(heartbeat, (int, float)) or not heartbeat > 0):
            raise InvalidRequestError("heartbeat must be a number of seconds > 0 or None, not %r" % (heartbeat,))
        if convert not in OUTPUTS and convert is not None:
            raise InvalidRequestError("convert must be None or one of %s, not %s"
                                      % (", ".join(sorted(str(name) for name in OUTPUTS)), printable(repr(convert), 40)))  # fmt: skip
        #: The response headers for ``start_response`` (a fresh list: frameworks may add to it).
        self.headers = list(HEADERS)  # type: List[Tuple[str, str]]
        self.heartbeat = heartbeat
        self._source = source
        # A CompletionStream is read through .events() and stopped from any thread with .cancel().
        self._cancel = getattr(source, "cancel", None)  # type: Optional[Callable[[], None]]
        events = getattr(source, "events", None)
        if callable(events) and self._cancel is not None:
            self._events = events()  # type: Iterator[ServerSentEvent]
        else:
            self._events = iter(cast(Iterable[ServerSentEvent], source))
        self._output = OUTPUTS[convert]() if convert is not None else _Output()
        stream_format = getattr(source, "format", None)
        if isinstance(stream_format, str) and format == "auto":  # a CompletionStream's own format= setting
            format = cast("FormatName", stream_format)
        self._accumulator = new_accumulator(format) if convert is not None else None  # type: Optional[Accumulator]
        self._secrets = _secrets_of(source) + Secrets([redact] if isinstance(redact, str) else redact)
        self._join_timeout = join_timeout
        self._queue = queue.Queue(QUEUE_SIZE)  # type: queue.Queue[_Item]
        self._stop = threading.Event()
        self._worker = None  # type: Optional[threading.Thread]
        self._body = None  # type: Optional[Iterator[bytes]]
        self._closed = False

    def __repr__(self) -> str:
        return "<Relay %s%s>" % (self._output.name or "pass-through", " closed" if self._closed else "")

    def __iter__(self) -> Iterator[bytes]:
        if self._body is None:
            self._body = self._write()
        return self._body

    def close(self) -> None:
        """Cancel the upstream at once, join the worker, release the upstream connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._cancel is not None:
            self._cancel()
        worker = self._worker
        if worker is None:
            _close(self._events)
        else:
            end = time.monotonic() + self._join_timeout
            while worker.is_alive() and time.monotonic() < end:
                self._drain()  # a worker waiting on a full queue goes on and sees the stop
                worker.join(0.005)
            if worker.is_alive():  # a source that could not be cancelled: the worker closes it on its next event
                return
        _close(self._source)
        body = self._body
        if body is not None and not getattr(body, "gi_running", False):
            _close(body)

    # --- the worker thread -----------------------------------------------------

    def _read(self) -> None:
        """Hand the upstream's events to the queue until it ends, fails, or the relay closes."""
        try:
            for event in self._events:
                if self._stop.is_set():
                    return
                self._put((_EVENT, event))
            self._put((_END, None))
        except Exception as exc:  # the failure goes downstream as an error frame
            self._put((_FAILED, exc))
        finally:
            _close(self._events)  # in this thread: a generator cannot be closed from another one while it runs

    def _put(self, item: _Item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    # --- the WSGI side ---------------------------------------------------------

    def _write(self) -> Iterator[bytes]:
        """The response body: one bytes item per upstream event, keep-alives in the silences."""
        if self._closed:
            return
        self._worker = worker = threading.Thread(target=self._read, name="ssekit-relay", daemon=True)
        worker.start()
        heartbeat = self.heartbeat
        last_write = time.monotonic()
        while True:
            wait = None if heartbeat is None else max(0.0, last_write + heartbeat - time.monotonic())
            try:
                kind, value = self._queue.get(timeout=wait)
            except queue.Empty:
                last_write = time.monotonic()
                yield _KEEP_ALIVE
                continue
            try:
                if kind == _EVENT:
                    chunk = self._relayed(value)
                elif kind == _END:
                    yield self._ended()
                    return
                else:
                    raise value
            except Exception as exc:  # the upstream failed, or its events do not make a complete answer
                yield self._error(exc)
                return
            if chunk:
                last_write = time.monotonic()
                yield chunk

    def _relayed(self, event: ServerSentEvent) -> bytes:
        """What one upstream event becomes downstream (maybe nothing, e.g. a ping when converting)."""
        accumulator = self._accumulator
        if accumulator is None:
            secrets = self._secrets
            if secrets:
                event = event._replace(data=secrets.redact(event.data), event=secrets.redact(event.event))
            return event.encode()
        output = self._output
        text = accumulator.add(event)
        data = []  # type: List[str]
        if not output.started and (text or accumulator.completion.id is not None):
            output.started = True
            data += output.start(accumulator.completion)
        if text:
            data += output.delta(self._secrets.redact(text))
        return _frames(data)

    def _ended(self) -> bytes:
        """The closing frames once the upstream ended (converting: only a complete answer ends well)."""
        accumulator = self._accumulator
        if accumulator is None:
            return b""
        completion = accumulator.finish()  # IncompleteStreamError when it stopped early
        output = self._output
        data = [] if output.started else output.start(completion)
        return _frames(data + output.end(completion))

    def _error(self, exc: Exception) -> bytes:
        """The ``event: error`` frame for *exc*, its message redacted and escaped."""
        if isinstance(exc, SSEKitError):
            message = str(exc)
        else:  # not ssekit's: say what it was, not what it holds (it may quote anything)
            message = "the upstream stream failed (%s)" % type(exc).__name__
        kind, code = "upstream_error", None  # type: Tuple[str, Any]
        if isinstance(exc, StreamError):
            kind = exc.type or "stream_error"
            code = self._secrets.redact_value(exc.code)
        message = printable(self._secrets.redact(message), 1000)
        return _frames([self._output.error(message, kind, code)], event="error")


def _secrets_of(source: Any) -> Secrets:
    """The secrets of a CompletionStream's request (its :attr:`~ssekit.stream.CompletionStream.secrets`);
    a source without them has only what *redact* names."""
    secrets = getattr(source, "secrets", None)
    return secrets if isinstance(secrets, Secrets) else Secrets()


def _close(thing: Any) -> None:
    """Call *thing*'s ``close()`` if it has one."""
    close = getattr(thing, "close", None)
    if callable(close):
        close()


def relay(
    source: "Union[CompletionStream, Iterable[ServerSentEvent]]",
    *,
    heartbeat: Optional[float] = DEFAULT_HEARTBEAT,
    convert: "Optional[OutputName]" = None,
    format: "FormatName" = "auto",
    redact: Iterable[str] = (),
    join_timeout: float = 5.0
) -> Relay:
    """Relay *source* (a :class:`~ssekit.stream.CompletionStream` or any iterable of events) to a WSGI client.

    Returns a :class:`Relay`: an iterable of bytes with ``.status`` ("200 OK")
    and ``.headers`` (``Content-Type: text/event-stream; charset=utf-8``,
    ``Cache-Control: no-cache``, ``X-Accel-Buffering: no``; never a hop-by-hop
    header) for ``start_response(r.status, r.headers); return r`` (Flask:
    ``Response(r, status=r.status, headers=r.headers)``; Django:
    ``StreamingHttpResponse(r, ...)``).

    - Each upstream event is one bytes item, as soon as it arrives.
    - *convert* (None: pass-through) writes another wire format carrying the
      upstream's text, whatever its format: ``"generation"``
      (``generation_start``, ``content_delta``, ``generation_end`` with
      ``tokens_used``, ``[DONE]``) or ``"chat_completions"`` (a role chunk,
      ``delta.content`` chunks, a finish chunk, a usage chunk, ``[DONE]``).
      Only the text is converted (not tool calls or reasoning). *format* names
      the upstream format when *source* is not a CompletionStream ("auto" by default).
    - *heartbeat*: seconds of downstream silence before a ``: keep-alive``
      comment (None: never). It bounds how long an upstream request outlives
      a client that left.
    - An upstream failure (an error event, a cut, a timeout, an answer that
      never ended) becomes one ``event: error`` frame in the output format's
      error shape (``{"error": {"message", "type"}}`` for pass-through), then
      the end of the body.
    - :meth:`Relay.close`, which WSGI servers call when the client leaves or
      the body ends, cancels the upstream at once and joins the worker thread
      (waiting at most *join_timeout* seconds for a source that cannot be
      cancelled: such a source is closed on its next event).
    - The upstream request's key headers and key-like URL values, and every
      string of *redact*, are replaced by ``[redacted]`` in everything sent.
    """
    return Relay(source, heartbeat=heartbeat, convert=convert, format=format, redact=redact, join_timeout=join_timeout)
