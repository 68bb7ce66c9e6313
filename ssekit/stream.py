"""The high-level streams: ``stream_completion`` for LLM answers, ``follow_sse`` for plain feeds.

Both sit on :mod:`ssekit.http` and take their deadline, cancellation and
retry rules from :mod:`ssekit.control`; ``stream_completion`` feeds the
wire-format accumulators of :mod:`ssekit.formats`.
"""
import logging
import os
import threading
import time
from typing import Any, Callable, Iterator, Mapping, Optional, Tuple

import requests
from requests.structures import CaseInsensitiveDict

from ._text import Secrets, redact_url
from .completion import Completion
from .control import MAX_RETRY_AFTER, RETRY_STATUSES, Attempt, RetryLike, TimeoutLike, attempts, retry_after, retry_policy, watching
from .errors import (
    APIStatusError,
    EventTooLargeError,
    IncompleteStreamError,
    SSEKitError,
    StreamConnectionError,
    UnsupportedFormatError,
)
from .formats import Accumulator, completion_from_result, key_header, new_accumulator
from .http import (
    EventSource,
    close_session,
    content_type_error,
    is_event_stream,
    open_response,
    parse_body,
    read_body,
    request_secrets,
)
from .sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent

__all__ = ["API_KEY_ENV", "CompletionStream", "follow_sse", "stream_completion"]

#: Environment variable read for the API key when ``api_key`` is not given.
API_KEY_ENV = "SSEKIT_API_KEY"
#: Response headers whose value becomes ``Completion.id`` when the body carries no id.
ID_HEADERS = ("x-request-id", "x-generation-id")
#: Seconds ``follow_sse`` waits before reconnecting until the server sends ``retry:``.
DEFAULT_RECONNECT_DELAY = 3.0

logger = logging.getLogger("ssekit")

#: ``on_event`` hook: called with each event once it has been accumulated.
EventHook = Callable[[ServerSentEvent], None]


def _request_headers(
    headers: Optional[Mapping[str, str]], api_key: Optional[str], format: str, url: str
) -> "CaseInsensitiveDict[str]":
    """The caller's headers plus the key from *api_key* or :data:`API_KEY_ENV`, as *format* sends it.

    The header and its required companions come from the format module
    (``Authorization: Bearer``; Anthropic's ``x-api-key`` plus
    ``anthropic-version``; under ``"auto"`` chosen by the URL, see
    :func:`ssekit.formats.key_header`). An explicit *api_key* replaces that
    header; the environment variable is used only when the caller set neither.
    Companion headers the caller set are kept.
    """
    merged = CaseInsensitiveDict(headers or {})  # type: CaseInsensitiveDict[str]
    spec = key_header(format, url)
    if api_key is None and spec.name not in merged:
        api_key = os.environ.get(API_KEY_ENV) or None
    if api_key:
        for name, value in spec.headers(api_key).items():
            if name == spec.name or name not in merged:
                merged[name] = value
    return merged


def _response_id(response: requests.Response) -> Optional[str]:
    """The correlation id a gateway put in the response head (see :data:`ID_HEADERS`)."""
    for name in ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value
    return None


def _with_partial(error: SSEKitError, partial: Completion, committed: bool) -> None:
    """Give *error* ``.partial``; a broken or timed-out read also says what was kept and what to do."""
    if error.partial is not None:
        return
    error.partial = partial
    if isinstance(error, IncompleteStreamError):
        error.message = "%s; %s%d characters of text received so far are in .partial: send the request again for the whole answer" % (
            error.message,
            "not retried because output had reached the caller; " if committed else "",
            len(partial.text),
        )
        error.args = (error.message,)


class CompletionStream:
    """One streamed completion: iterate for the text deltas, or call :meth:`events` for raw events.

    Nothing is sent before iteration starts. :attr:`completion` is the answer
    so far (final after the loop). :meth:`cancel` / :meth:`close` stop it from
    this or another thread, interrupting a read blocked on the socket; the loop
    then ends quietly and :attr:`cancelled` is True. Made by :func:`stream_completion`.
    """

    def __init__(
        self,
        url: str,
        *,
        json: Any,
        session: Optional[requests.Session] = None,
        headers: Optional[Mapping[str, str]] = None,
        api_key: Optional[str] = None,
        timeout: TimeoutLike = None,
        deadline: Optional[float] = None,
        retry: RetryLike = 2,
        format: str = "auto",
        cancel: Optional[threading.Event] = None,
        method: str = "POST",
        on_event: Optional[EventHook] = None,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        **request_kwargs: Any
    ) -> None:
        new_accumulator(format)  # an unknown format fails here, not mid-request
        self.url = url
        self.method = method.upper()
        self.timeout = timeout
        self.deadline = deadline
        self.format = format
        #: The HTTP response of the current attempt (None before the first answer).
        self.response = None  # type: Optional[requests.Response]
        self._json = json
        self._headers = _request_headers(headers, api_key, format, url)
        self._session = session
        self._retry = retry_policy(retry)
        self._cancel_event = cancel
        self._on_event = on_event
        self._max_event_size = max_event_size
        self._request_kwargs = request_kwargs
        self._stop = threading.Event()
        self._cancelled = False
        self._finished = False
        self._run = None  # type: Optional[Iterator[Tuple[ServerSentEvent, str]]]
        self._stepping = threading.Lock()  # held while the run generator executes
        self._attempt = None  # type: Optional[Attempt]
        self._source = None  # type: Optional[EventSource]
        self._accumulator = None  # type: Optional[Accumulator]
        self._completion = None  # type: Optional[Completion]

    def __repr__(self) -> str:
        if self._cancelled:
            state = "cancelled"
        elif self._finished:
            state = "finished"
        else:
            state = "running" if self._run is not None else "not started"
        return "<CompletionStream %s %s %s>" % (self.method, redact_url(self.url), state)

    # --- the caller's view ---------------------------------------------------

    @property
    def completion(self) -> Completion:
        """The answer rebuilt so far: final once the loop ended, partial after a failure or cancel."""
        if self._completion is not None:
            return self._completion
        if self._accumulator is not None:
            return self._accumulator.completion
        return Completion()

    @property
    def cancelled(self) -> bool:
        """True when the stream was stopped (cancel, close, break, Ctrl-C) before its end."""
        return self._cancelled

    def __iter__(self) -> Iterator[str]:
        """The text deltas, each as soon as its event arrives."""
        return self._deliver(text=True)

    def events(self) -> Iterator[ServerSentEvent]:
        """The raw events (still accumulated into :attr:`completion`).

        A non-streamed JSON answer comes as one event whose data is the whole body.
        """
        return self._deliver(text=False)

    def cancel(self) -> None:
        """Stop the stream from this or any other thread; a read blocked on the body returns at once.

        (While the server has not sent the response head yet, the cancel takes
        effect when it arrives, or at the connect/read timeout or the deadline.)
        """
        if self._finished:
            return
        self._cancelled = True
        self._stop.set()
        source = self._source
        if source is not None:
            source.interrupt()

    def close(self) -> None:
        """Cancel if still running and release the connection (and the session ssekit opened)."""
        self.cancel()
        if self._run is None:
            self._finished = True
        elif self._stepping.acquire(blocking=False):
            try:
                self._run.close()
            finally:
                self._stepping.release()
        # else: a read is under way (in another thread, or this is on_event): the cancel ends it there

    def __enter__(self) -> "CompletionStream":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- the machinery -------------------------------------------------------

    def _deliver(self, text: bool) -> Iterator[Any]:
        """Hand text deltas (or events) to the caller; the attempt is committed before each one."""
        if self._run is None:
            self._run = self._stream()
        run = self._run
        try:
            while True:
                with self._stepping:  # close() from another thread must not close it mid-step
                    pair = next(run, None)
                if pair is None:
                    return
                event, delta = pair
                if text and not delta:
                    continue
                if self._attempt is not None:
                    self._attempt.commit()
                yield delta if text else event
        finally:
            self.close()  # a break or an error: release now, not when the generator is collected

    def _stream(self) -> Iterator[Tuple[ServerSentEvent, str]]:
        """All attempts of the request under one deadline and one cancel watcher."""
        session = self._session if self._session is not None else requests.Session()
        try:
            with watching(self._cancel_event, self.cancel):
                for attempt in attempts(self._retry, deadline=self.deadline, cancel=self._stop):
                    self._attempt = attempt
                    with attempt:
                        yield from self._try(session, attempt)
        except SSEKitError as exc:
            if self._stop.is_set():  # the cancel's interrupt broke the read or the request
                return
            _with_partial(exc, self.completion, self._attempt is not None and self._attempt.committed)
            raise
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C, or the generator closed by a break
                self._cancelled = True
            raise
        finally:
            self._finished = True
            self._source = None
            if self._session is None:
                close_session(session)

    def _try(self, session: requests.Session, attempt: Attempt) -> Iterator[Tuple[ServerSentEvent, str]]:
        """One request: (event, text delta) pairs until the stream ends (nothing once cancelled)."""
        if self._stop.is_set():
            return
        secrets = request_secrets(session, self.url, self._headers, self._request_kwargs.get("auth"))
        response = open_response(
            session,
            self.method,
            self.url,
            secrets=secrets,
            json=self._json,
            headers=self._headers,
            timeout=attempt.timeout(self.timeout),
            **self._request_kwargs
        )
        self.response = response
        fallback_id = _response_id(response)
        logger.debug("%s %s: HTTP %d, id %s", self.method, redact_url(self.url), response.status_code, fallback_id)
        accumulator = self._accumulator = new_accumulator(self.format, fallback_id=fallback_id, secrets=secrets)
        source = self._source = EventSource(response, deadline=attempt.deadline, max_event_size=self._max_event_size)
        with source:
            if self._stop.is_set():  # cancelled while the request was on its way
                return
            if is_event_stream(response):
                pairs = ((event, accumulator.add(event)) for event in source.iter_sse())  # type: Iterator[Tuple[ServerSentEvent, str]]
            else:
                pairs = iter([self._whole_result(response, fallback_id, secrets)])
            for event, delta in pairs:
                if self._on_event is not None:
                    attempt.commit()
                    self._on_event(event)
                yield event, delta
            if self._completion is None:  # (a whole result is complete already)
                self._completion = accumulator.finish()

    def _whole_result(
        self, response: requests.Response, fallback_id: Optional[str], secrets: Secrets
    ) -> Tuple[ServerSentEvent, str]:
        """A complete non-streamed JSON answer as one (event, text) pair; anything else raises."""
        expected = "text/event-stream or a JSON result of a known format"
        if "json" not in (response.headers.get("Content-Type") or "").lower():
            raise content_type_error(response, secrets, expected)
        data = read_body(response, self._max_event_size + 1)
        if len(data) > self._max_event_size:
            raise EventTooLargeError(
                "the non-streamed JSON answer exceeds the %d-byte limit (raise max_event_size if this server is trusted)"
                % self._max_event_size,
                limit=self._max_event_size,
            )
        try:
            self._completion = completion_from_result(
                parse_body(response, data), fallback_id=fallback_id, secrets=secrets
            )
        except UnsupportedFormatError:
            raise content_type_error(response, secrets, expected, body=data) from None
        return ServerSentEvent(data=data.decode("utf-8", "replace")), self._completion.text


def stream_completion(url: str, *, json: Any, **options: Any) -> CompletionStream:
    """Stream an LLM completion: POST *json* to *url* and read the answer as it arrives.

    Returns a :class:`CompletionStream` (use it in a ``with`` block); nothing
    is sent until it is iterated. The *options* are the keyword parameters of
    :class:`CompletionStream`: ``session``, ``headers``, ``api_key``,
    ``timeout``, ``deadline``, ``retry`` (2), ``format`` ("auto"), ``cancel``,
    ``method`` ("POST"), ``on_event``, ``max_event_size``. *api_key* (default: the ``SSEKIT_API_KEY``
    environment variable) is sent as ``Authorization: Bearer``, never logged.
    *timeout* is as in requests (the read part bounds the silence between
    bytes); *deadline* bounds the whole stream in seconds, connecting and
    retry waits included; both raise :class:`StreamTimeoutError` with
    ``.partial``. *retry* (an int or a urllib3 ``Retry``) retries connection
    errors, timeouts and 408/409/429/5xx only before output reached the
    caller; later failures raise :class:`IncompleteStreamError` with
    ``.partial``. *cancel* is a ``threading.Event`` that stops the stream as
    :meth:`CompletionStream.cancel` does; *on_event* is called with each event
    after it is accumulated. Other keyword arguments go to ``session.request``.

    ::

        with ssekit.stream_completion(url, json=body, timeout=(5, 60)) as stream:
            for text in stream:
                print(text, end="", flush=True)
        print(stream.completion.usage)
    """
    return CompletionStream(url, json=json, **options)


def follow_sse(
    session: requests.Session,
    url: str,
    *,
    method: str = "GET",
    last_event_id: Optional[str] = None,
    max_reconnects: Optional[int] = None,
    reconnect_delay: float = DEFAULT_RECONNECT_DELAY,
    **requests_kwargs: Any
) -> Iterator[ServerSentEvent]:
    """Yield the events of a plain SSE feed across reconnections, as a browser's EventSource does.

    After the stream ends or drops (or a connection error, a timeout, a
    408/409/429/5xx), it waits the server's ``retry:`` delay (*reconnect_delay*
    until the server sends one; a longer ``Retry-After`` wins) and reconnects, sending the last seen id as
    ``Last-Event-ID``. It stops on HTTP 204, raises on any other status or a
    non-SSE answer, and after *max_reconnects* reconnections (None: no limit)
    ends quietly, or raises the last failure if that connection delivered
    nothing. *requests_kwargs* (``headers``, ``timeout``, ``max_event_size``,
    ...) apply to every connection. Stop it by leaving the loop::

        for sse in ssekit.follow_sse(session, "https://example.com/jobs/42/events", timeout=(5, 60)):
            print(sse.event, sse.data)
    """
    headers = CaseInsensitiveDict(requests_kwargs.pop("headers", None) or {})  # type: CaseInsensitiveDict[str]
    max_event_size = requests_kwargs.pop("max_event_size", DEFAULT_MAX_EVENT_SIZE)
    where = "%s %s" % (method.upper(), redact_url(url))
    secrets = request_secrets(session, url, headers, requests_kwargs.get("auth"))
    delay = reconnect_delay
    reconnects = 0
    while True:
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        else:
            headers.pop("Last-Event-ID", None)
        failure = None  # type: Optional[SSEKitError]
        delivered = False
        try:
            response = open_response(session, method, url, secrets=secrets, headers=headers, **requests_kwargs)
            with EventSource(response, max_event_size=max_event_size) as source:
                if response.status_code == 204:
                    logger.info("%s answered 204 No Content: the feed is over", where)
                    return
                if not is_event_stream(response):
                    raise content_type_error(response, secrets)
                decoder = source.decoder
                decoder.last_event_id = last_event_id  # the id persists across connections
                try:
                    for event in source.iter_sse():
                        delivered = True
                        yield event
                finally:
                    last_event_id = decoder.last_event_id
                    if decoder.retry is not None:
                        delay = min(decoder.retry / 1000.0, MAX_RETRY_AFTER)
        except (StreamConnectionError, IncompleteStreamError, APIStatusError) as exc:
            if isinstance(exc, APIStatusError) and exc.status_code not in RETRY_STATUSES:
                raise
            failure = exc
        if max_reconnects is not None and reconnects >= max_reconnects:
            if failure is not None and not delivered:
                raise failure
            return
        reconnects += 1
        pause = max(delay, retry_after(failure) or 0.0) if failure is not None else delay
        logger.info("reconnecting to %s in %.2f s (%s)", where, pause, failure or "the stream ended")
        time.sleep(pause)
