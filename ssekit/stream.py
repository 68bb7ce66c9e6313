"""The high-level streams: ``stream_completion`` for LLM answers, ``follow_sse`` for plain feeds.

Both sit on :mod:`ssekit.http` (:func:`~ssekit.http.open_stream` sends and
classifies each request) and run on the one attempt loop of
:mod:`ssekit.control` (:func:`~ssekit.control.attempts`): the same retry
policy, deadline, and cancellation that reaches a wait on the socket at any
stage; ``stream_completion`` feeds the wire-format accumulators of
:mod:`ssekit.formats`.
"""
import enum
import logging
import os
import threading
from typing import Any, Callable, Generator, Iterator, List, Mapping, Optional, Sequence, Tuple, cast

import requests
from requests.structures import CaseInsensitiveDict

from ._cassette import PathLike, check_record_path, record_answer
from ._text import Secrets, redact_url
from .completion import Completion
from .control import (
    MAX_RETRY_AFTER,
    Attempt,
    Reconnect,
    RetryLike,
    TimeoutLike,
    attempts,
    check_cancel,
    check_deadline,
    check_timeout,
    deadline_at,
    retry_policy,
    unlimited_policy,
    watching,
)
from .errors import APIStatusError, InvalidRequestError, SSEKitError
from .formats import Accumulator, FormatName, key_header, new_accumulator
from .http import (
    EventSource,
    Interrupter,
    WholeResult,
    check_headers,
    check_json,
    close_session,
    open_stream,
    request_secrets,
    sent_secrets,
    response_id,
    sendable_event_id,
)
from .resume import ResumeLike, Resumption, fetch_json, resume_policy
from .sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent
from .updates import Progress, TextUpdate, Update, new_record, whole_answer_updates

__all__ = ["API_KEY_ENV", "CompletionStream", "follow_sse", "stream_completion"]

#: Environment variable read for the API key when ``api_key`` is not given.
API_KEY_ENV = "SSEKIT_API_KEY"
#: Seconds ``follow_sse`` waits before reconnecting until the server sends ``retry:``.
DEFAULT_RECONNECT_DELAY = 3.0
#: Consecutive failed connections ``follow_sse`` tolerates by default before it raises the last failure.
DEFAULT_FEED_RETRIES = 8

logger = logging.getLogger("ssekit")

#: ``on_event`` hook: called with each event once it has been accumulated.
EventHook = Callable[[ServerSentEvent], None]


def _request_headers(
    headers: Optional[Mapping[str, str]], api_key: Optional[str], format: "FormatName", url: str
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




def _check_options(method: Any, timeout: Any, deadline: Any, cancel: Any, max_event_size: Any, on_event: Any) -> None:
    """Refuse bad keyword values before anything is sent, with :class:`InvalidRequestError`."""
    if not isinstance(method, str) or not method.isalpha():
        raise InvalidRequestError("method must be an HTTP method name such as 'POST', not %r" % (method,))
    check_timeout(timeout)
    check_deadline(deadline)
    check_cancel(cancel)
    if isinstance(max_event_size, bool) or not isinstance(max_event_size, int) or max_event_size <= 0:
        raise InvalidRequestError("max_event_size must be a number of bytes > 0, not %r" % (max_event_size,))
    if on_event is not None and not callable(on_event):
        raise InvalidRequestError("on_event must be callable, not %s" % type(on_event).__name__)


class State(enum.Enum):
    """Where a :class:`CompletionStream` is in its life."""

    NEW = "not started"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


_ENDED = (State.FINISHED, State.FAILED, State.CANCELLED)


class CompletionStream:
    """One streamed completion: iterate for the text deltas, or call :meth:`events` for raw events.

    Nothing is sent before iteration starts; a stream is read once (iterating
    it again after its end raises :class:`SSEKitError`). :attr:`completion` is
    the answer so far (final after the loop). :meth:`cancel` / :meth:`close`
    stop it from this or another thread at any stage (connecting, waiting for
    the response head, reading, waiting to retry); the loop then ends quietly
    and :attr:`cancelled` is True. A ``break`` cancels at once on CPython,
    where the loop's generator is closed as it is dropped; on PyPy that waits
    for the garbage collector, so the stream is cancelled and released when
    the ``with`` block ends (or :meth:`close` is called). Made by :func:`stream_completion`, whose
    docstring describes the parameters; they are checked here, before
    anything is sent (:class:`InvalidRequestError`).
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
        format: "FormatName" = "auto",
        cancel: Optional[threading.Event] = None,
        method: str = "POST",
        on_event: Optional[EventHook] = None,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        max_retry_after: float = MAX_RETRY_AFTER,
        auth: Any = None,
        verify: Any = None,
        cert: Any = None,
        proxies: Optional[Mapping[str, str]] = None,
        params: Any = None,
        record: "Optional[PathLike]" = None,
        resume: ResumeLike = False
    ) -> None:
        new_accumulator(format)  # an unknown format fails here, not mid-request
        _check_options(method, timeout, deadline, cancel, max_event_size, on_event)
        check_json(json)
        check_record_path(record)
        self.url = url
        self.method = method.upper()
        self.timeout = timeout
        self.deadline = deadline
        self.format = format
        #: The HTTP response of the current attempt (None before the first answer).
        self.response = None  # type: Optional[requests.Response]
        self._json = json
        self._headers = _request_headers(headers, api_key, format, url)
        check_headers(self._headers)
        self._session = session
        self._retry = retry_policy(retry)
        self._max_retry_after = max_retry_after
        self._cancel_event = cancel
        self._on_event = on_event
        self._max_event_size = max_event_size
        self._record = record
        options = {"auth": auth, "verify": verify, "cert": cert, "proxies": proxies, "params": params}
        self._request_kwargs = {name: value for name, value in options.items() if value is not None}
        self._state = State.NEW
        self._state_lock = threading.Lock()
        self._stop = threading.Event()  # set by a cancel: ends the retry waits
        self._interrupter = Interrupter()  # reaches the socket of the request in progress
        self._run = None  # type: Optional[Generator[Tuple[ServerSentEvent, str], None, None]]
        self._stepping = threading.Lock()  # held while the run generator executes
        self._attempt = None  # type: Optional[Attempt]
        self._source = None  # type: Optional[EventSource]
        self._accumulator = None  # type: Optional[Accumulator]
        self._watched = False  # updates() asked for typed progress
        self._completion = None  # type: Optional[Completion]
        policy = resume_policy(resume)
        self._resumption = Resumption(policy, url, json) if policy is not None else None

    def __repr__(self) -> str:
        return "<CompletionStream %s %s %s>" % (self.method, redact_url(self.url), self._state.value)

    # --- the caller's view ---------------------------------------------------

    @property
    def state(self) -> State:
        """Where the stream is: not started, running, finished, failed or cancelled."""
        return self._state

    @property
    def completion(self) -> Completion:
        """The answer rebuilt so far: final once the loop ended, partial after a failure or cancel."""
        if self._completion is not None:
            completion = self._completion
        elif self._accumulator is not None:
            completion = self._accumulator.completion
        else:
            return Completion()
        resumed = self._resumption.count if self._resumption is not None else 0
        return completion.resumed_copy(resumed) if resumed else completion

    @property
    def secrets(self) -> Secrets:
        """The secrets this request carries (key headers, its session's too, key-like URL values, ``auth``), to be
        redacted from whatever quotes the stream (the relay does); their ``repr`` never shows a value."""
        secrets = request_secrets(self._session, self.url, self._headers, self._request_kwargs.get("auth"))
        return sent_secrets(self.response, secrets) if self.response is not None else secrets

    @property
    def cancelled(self) -> bool:
        """True when the stream was stopped (cancel, close, break, Ctrl-C) before its end."""
        return self._state is State.CANCELLED

    def __iter__(self) -> Iterator[str]:
        """The text deltas, each as soon as its event arrives."""
        return self._deliver(text=True)

    def events(self) -> Iterator[ServerSentEvent]:
        """The raw events (still accumulated into :attr:`completion`).

        A non-streamed JSON answer comes as one event whose data is the whole body.
        """
        return self._deliver(text=False)

    def updates(self) -> Iterator[Update]:
        """Typed progress records (text, reasoning, tool calls with their arguments so far, usage, finish),
        the same for every format: see :mod:`ssekit.updates`.

        A non-streamed JSON answer comes as the records of the whole answer at once.
        """
        if self._run is None:
            self._watched = True
        return self._deliver(text=False, updates=True)

    def cancel(self) -> None:
        """Stop the stream from this or any other thread, at whatever stage it is; a wait on the socket returns at once."""
        if not self._move((State.NEW, State.RUNNING), State.CANCELLED):
            return
        self._stop.set()
        self._interrupter.interrupt("cancel")
        source = self._source
        if source is not None:
            source.interrupt()  # (a connection opened without the interrupter's knowledge)

    def close(self) -> None:
        """Cancel if still running and release the connection (and the session ssekit opened)."""
        self.cancel()
        if self._run is not None and self._stepping.acquire(blocking=False):
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

    def _move(self, sources: Tuple[State, ...], target: State) -> bool:
        """Go to *target* if the state is one of *sources*; True if it moved."""
        with self._state_lock:
            if self._state not in sources:
                return False
            self._state = target
            return True

    def _deliver(self, text: bool, updates: bool = False) -> Iterator[Any]:
        """Hand text deltas (or events, or updates) to the caller; the attempt is committed before each one."""
        if self._run is None:
            self._run = self._stream()
        elif self._state in _ENDED:
            raise SSEKitError(
                "this CompletionStream was already read to its end (%s): .completion holds the answer; "
                "call stream_completion() again for a new request" % self._state.value
            )
        run = self._run
        watched, progress = None, None  # type: Optional[Accumulator], Optional[Progress]  # the updates' accumulator, its progress
        try:
            while True:
                with self._stepping:  # close() from another thread must not close it mid-step
                    pair = next(run, None)
                if pair is None:
                    return
                event, delta = pair
                if not updates:
                    if text and not delta:
                        continue
                    out = delta if text else event  # type: Any
                else:
                    if self._accumulator is not watched:  # (the first event, or a new attempt's)
                        watched = self._accumulator
                        progress = watched.progress if watched is not None else None
                    if progress is not None and not progress.notes:
                        out = progress.record
                        if out is None:  # the common event: text only, one record
                            if not delta:
                                continue
                            out = new_record(TextUpdate, (delta,))
                        elif delta:  # text and a fragment
                            out = self._updates_after(delta)
                        else:  # a tool call's common event: one fragment, its record made at once
                            progress.record = None
                    else:  # several records, or none (a list); a whole result's; or updates() asked too late (raises)
                        out = self._updates_after(delta)
                        if not out:
                            continue
                attempt = self._attempt
                if attempt is not None and not attempt.committed:
                    attempt.commit()  # output reaches the caller: from now on a failure is not retried silently
                if out.__class__ is list:
                    yield from out
                else:
                    yield out
        finally:
            self.close()  # a break or an error: release now, not when the generator is collected

    def _updates_after(self, delta: str) -> List[Update]:
        """The records of the event just read (of the whole answer, for a non-streamed one)."""
        accumulator = self._accumulator
        if accumulator is None:  # (a whole result: no accumulator ran)
            return whole_answer_updates(self.completion)
        if accumulator.progress is None:
            raise SSEKitError("updates() must be called before the stream is read, not after iterating its text or events")
        return accumulator.updates_after(delta)

    def _progress(self) -> Tuple[Completion, bool]:
        """What a failure quotes: the answer so far, and whether output already reached the caller."""
        return self.completion, self._attempt is not None and self._attempt.committed

    def _stream(self) -> Generator[Tuple[ServerSentEvent, str], None, None]:
        """All attempts of the request under one deadline, one cancel watcher and one interrupter."""
        self._move((State.NEW,), State.RUNNING)
        session = self._session if self._session is not None else requests.Session()
        interrupter = self._interrupter
        end = deadline_at(self.deadline)
        resumption = self._resumption
        try:
            with watching(self._cancel_event, self.cancel, end, lambda: interrupter.interrupt("deadline")):
                for attempt in attempts(self._retry, until=end, cancel=self._stop, max_retry_after=self._max_retry_after,
                                        resume=resumption.should_resume if resumption is not None else None):  # fmt: skip
                    self._attempt = attempt
                    with attempt:
                        yield from self._try(session, attempt)
            self._move((State.RUNNING,), State.FINISHED)
        except SSEKitError as exc:
            if self._stop.is_set():  # the cancel's interrupt broke the read or the request
                return
            self._move((State.RUNNING,), State.FAILED)
            if resumption is None:
                raise
            failure = resumption.failed(exc, self.completion)
            if failure is exc:
                raise
            raise failure from exc
        except BaseException as exc:
            self._move((State.RUNNING,), State.FAILED if isinstance(exc, Exception) else State.CANCELLED)
            raise  # (Ctrl-C, or the generator closed by a break: cancelled)
        finally:
            self._source = None
            if self._session is None:
                close_session(session)

    def _try(self, session: requests.Session, attempt: Attempt) -> Iterator[Tuple[ServerSentEvent, str]]:
        """One request: (event, text delta) pairs until the stream ends (nothing once cancelled).

        With ``resume=``, a try after a break continues the stream instead (a
        GET the cursor names), or polls the whole result once that was refused.
        """
        if self._stop.is_set():
            return
        resumption = self._resumption
        request = resumption.begin(self.completion, self._headers) if resumption is not None else None
        url = self.url if request is None else request.url
        secrets = request_secrets(session, url, self._headers, self._request_kwargs.get("auth"))
        try:
            if request is not None and resumption is not None and resumption.polling:
                yield from self._hooked(attempt, self._polled(session, attempt, secrets))
                return
            try:
                answer = open_stream(
                    session,
                    self.method if request is None else "GET",
                    url,
                    secrets=secrets,
                    deadline=attempt.deadline,
                    interrupter=self._interrupter,
                    max_event_size=self._max_event_size,
                    progress=self._progress,
                    results=request is None,
                    json=self._json if request is None else None,
                    headers=self._headers if request is None else request.headers,
                    timeout=attempt.timeout(self.timeout, self.completion),
                    **self._request_kwargs
                )
            except APIStatusError as exc:
                if request is None or resumption is None or not resumption.refused(exc):
                    raise
                yield from self._hooked(attempt, self._polled(session, attempt, secrets))
                return
            self.response = answer.response
            secrets = answer.secrets  # (with what the request carried as sent: auth= headers, params=)
            if self._record is not None:
                record_answer(self._record, answer)
            logger.debug("%s %s: HTTP %d", answer.response.request.method, redact_url(url), answer.response.status_code)
            if isinstance(answer, WholeResult):
                self._completion = answer.completion
                yield from self._hooked(attempt, iter([(answer.event, answer.completion.text)]))
                return
            if request is None or self._accumulator is None:
                self._accumulator = new_accumulator(self.format, fallback_id=response_id(answer.response), secrets=secrets)
                if self._watched:
                    self._accumulator.watch()
            else:  # the same answer goes on
                assert resumption is not None
                resumption.opened()
                answer.decoder.last_event_id = request.last_event_id
            accumulator = self._accumulator
            self._source = answer
            with answer:
                if not self._stop.is_set():  # (cancelled while the request was on its way)
                    yield from self._hooked(attempt, self._pairs(answer, accumulator))
                    self._completion = accumulator.finish()
        finally:
            self._interrupter.forget()

    def _polled(self, session: requests.Session, attempt: Attempt, secrets: Any) -> Iterator[Tuple[ServerSentEvent, str]]:
        """The answer completed from its whole result, polled until settled (the API would not stream it again)."""
        resumption, accumulator = self._resumption, self._accumulator
        assert resumption is not None and accumulator is not None

        def fetch(url: str) -> Any:
            return fetch_json(session, url, secrets=secrets, headers=self._headers, attempt=attempt, timeout=self.timeout,
                              interrupter=self._interrupter, partial=self.completion, max_size=self._max_event_size,
                              **self._request_kwargs)  # fmt: skip

        result = resumption.poll(fetch, self._stop, attempt.deadline, lambda: self.completion)
        if result is not None:
            yield resumption.complete(accumulator, result)
            self._completion = accumulator.finish()

    def _pairs(self, source: EventSource, accumulator: Accumulator) -> Iterator[Tuple[ServerSentEvent, str]]:
        """(event, text delta) pairs; at the format's end marker the rest of the body is not waited for."""
        events = source.iter_sse()
        if self._resumption is not None:
            events = self._resumption.admitted(events, accumulator, lambda: self.completion)
        for event in events:
            delta = accumulator.add(event)
            if accumulator.ended:
                source.finish()  # a server that keeps the connection open must not hold a complete answer
                yield event, delta
                return
            yield event, delta

    def _hooked(self, attempt: Attempt, pairs: Iterator[Tuple[ServerSentEvent, str]]) -> Iterator[Tuple[ServerSentEvent, str]]:
        """*pairs*, each shown to ``on_event`` first (which commits the attempt: the caller saw output)."""
        for event, delta in pairs:
            if self._on_event is not None:
                attempt.commit()
                self._on_event(event)
            yield event, delta


def stream_completion(
    url: str,
    *,
    json: Any,
    session: Optional[requests.Session] = None,
    headers: Optional[Mapping[str, str]] = None,
    api_key: Optional[str] = None,
    timeout: TimeoutLike = None,
    deadline: Optional[float] = None,
    retry: RetryLike = 2,
    format: "FormatName" = "auto",
    cancel: Optional[threading.Event] = None,
    method: str = "POST",
    on_event: Optional[EventHook] = None,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    max_retry_after: float = MAX_RETRY_AFTER,
    auth: Any = None,
    verify: Any = None,
    cert: Any = None,
    proxies: Optional[Mapping[str, str]] = None,
    params: Any = None,
    record: "Optional[PathLike]" = None,
    resume: ResumeLike = False
) -> CompletionStream:
    """Stream an LLM completion: POST *json* to *url* and read the answer as it arrives.

    Returns a :class:`CompletionStream` (use it in a ``with`` block); nothing
    is sent until it is iterated, but every argument is checked at once
    (:class:`InvalidRequestError`: a bad URL, a header or key that cannot be
    sent, ``json`` with NaN, ``deadline=-1``, ``timeout="abc"``, a ``cancel``
    that is not a ``threading.Event``, a bad ``retry``).

    - *api_key* (default: the ``SSEKIT_API_KEY`` environment variable) is
      sent as the format sends keys (``Authorization: Bearer``; Messages
      ``x-api-key``), never logged; *headers* are added to the request.
    - *timeout* is as in requests (the read part bounds the silence between bytes).
    - *deadline* bounds the whole stream in seconds, from the first byte sent
      to the last byte read: connecting, the response head, error and JSON
      bodies, the stream, retry waits. Both raise :class:`StreamTimeoutError`
      with ``.partial``.
    - *retry* (an int or a urllib3 ``Retry``) retries connection errors,
      timeouts and 408/409/429/5xx only before output reached the caller,
      with jittered exponential backoff (first wait 0-0.5 s) or ``Retry-After``
      (cut to *max_retry_after* seconds), never on the failed connection;
      later failures raise :class:`IncompleteStreamError` with ``.partial``.
    - *cancel* is a ``threading.Event`` that stops the stream as
      :meth:`CompletionStream.cancel` does, at any stage, within milliseconds.
    - *format* names the wire format ("auto" recognises it); at the format's
      end marker reading stops, so a server that keeps the connection open
      cannot turn a complete answer into a timeout.
    - *on_event* is called with each event after it is accumulated;
      *max_event_size* bounds an event (and a non-streamed answer) in bytes;
      *method* is the HTTP method; *auth*, *verify*, *cert*, *proxies* and
      *params* go to ``session.request``.
    - *record* (a file path) records the exchange there as a cassette while
      the stream runs as usual: the request with every key redacted, the
      response head, the body chunks as they arrived with their times (see
      :class:`ssekit.testing.Cassette`; a retried request records its last answer).
    - *resume* (True, or a :class:`~ssekit.resume.Resume` policy) continues a
      stream that breaks (a cut, a read timeout, an early end) where the
      server allows it, instead of raising: OpenAI Responses requests with
      ``"background": true`` (``starting_after``, else polling the result),
      or with ``Resume(url=...)`` plain SSE streams with ids (``Last-Event-ID``).
      The caller sees one stream (no event twice, a gap raises
      :class:`StreamGapError`); ``completion.resumed`` counts the continuations.
      Each follows at once after a try that advanced the stream; tries that
      did not are retried under *retry*'s backoff and the *deadline*.

    ::

        with ssekit.stream_completion(url, json=body, timeout=(5, 60)) as stream:
            for text in stream:
                print(text, end="", flush=True)
        print(stream.completion.usage)
    """
    return CompletionStream(
        url, json=json, session=session, headers=headers, api_key=api_key, timeout=timeout, deadline=deadline,
        retry=retry, format=format, cancel=cancel, method=method, on_event=on_event, max_event_size=max_event_size,
        max_retry_after=max_retry_after, auth=auth, verify=verify, cert=cert, proxies=proxies, params=params,
        record=record,
        resume=resume,
    )


def follow_sse(
    session: requests.Session,
    url: str,
    *,
    method: str = "GET",
    last_event_id: Optional[str] = None,
    max_reconnects: Optional[int] = None,
    reconnect_delay: float = DEFAULT_RECONNECT_DELAY,
    retry: RetryLike = DEFAULT_FEED_RETRIES,
    deadline: Optional[float] = None,
    cancel: Optional[threading.Event] = None,
    max_retry_after: float = MAX_RETRY_AFTER,
    timeout: TimeoutLike = None,
    headers: Optional[Mapping[str, str]] = None,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    **requests_kwargs: Any
) -> Iterator[ServerSentEvent]:
    """Yield the events of a plain SSE feed across reconnections, as a browser's EventSource does.

    After the stream ends or drops (or a connection error, a timeout, a
    408/409/429/5xx), it waits and reconnects, sending the last seen id as
    ``Last-Event-ID`` (an id that cannot be sent as a header, beyond Latin-1
    say, is sent percent-encoded as UTF-8). The wait is the server's
    ``retry:`` delay (*reconnect_delay*, 3 s, until the server sends one),
    never under 0.25 s; after consecutive connections that failed without
    delivering an event it doubles each time (3, 6, 12... s) up to 60 s,
    plus up to 0.5 s of jitter, and a longer ``Retry-After`` (cut to
    *max_retry_after*) wins. It stops on HTTP 204, raises on any other status
    or a non-SSE answer, and after *max_reconnects* reconnections (None: no
    limit) ends quietly, or raises the last failure if that connection
    delivered nothing. It runs on the same loop as :func:`stream_completion`:
    *retry* (an int, 8 by default, or a urllib3 ``Retry``; None: unlimited)
    bounds the consecutive failed connections (about 4.5 minutes of backoff
    at the default delay) before the last failure is raised,
    *deadline* (seconds in all) ends the feed with :class:`StreamTimeoutError`,
    *cancel* (a ``threading.Event``) ends it quietly at any stage, waits
    included. *requests_kwargs* (``timeout``, ``auth``...) apply to every
    connection. Arguments are checked at once (:class:`InvalidRequestError`).
    Stop it by leaving the loop::

        for sse in ssekit.follow_sse(session, "https://example.com/jobs/42/events", timeout=(5, 60)):
            print(sse.event, sse.data)

    A loop left early releases the connection when the returned generator is
    closed: at once on CPython, at the next garbage collection on PyPy, so
    there call its ``close()`` (or wrap it in ``contextlib.closing``).
    """
    _check_options(method, timeout, deadline, cancel, max_event_size, None)
    check_headers(headers)
    unknown = set(requests_kwargs) - {"params", "data", "json", "cookies", "auth", "allow_redirects", "proxies", "hooks", "verify", "cert"}
    if unknown:
        raise InvalidRequestError("follow_sse() got unknown keyword argument(s): %s" % ", ".join(sorted(unknown)))
    if "json" in requests_kwargs:
        check_json(requests_kwargs["json"])
    policy = unlimited_policy() if retry is None else retry_policy(retry)
    reconnect = Reconnect("%s %s" % (method.upper(), redact_url(url)), reconnect_delay, max_reconnects)
    return _follow(
        session, url, method, last_event_id, reconnect, policy, deadline, cancel, max_retry_after,
        timeout, CaseInsensitiveDict(headers or {}), max_event_size, requests_kwargs,
    )


def _follow(
    session: requests.Session,
    url: str,
    method: str,
    last_event_id: Optional[str],
    reconnect: Reconnect,
    retry: RetryLike,
    deadline: Optional[float],
    cancel: Optional[threading.Event],
    max_retry_after: float,
    timeout: TimeoutLike,
    headers: "CaseInsensitiveDict[str]",
    max_event_size: int,
    requests_kwargs: Any,
) -> Iterator[ServerSentEvent]:
    """The generator behind :func:`follow_sse` (its arguments checked)."""
    secrets = request_secrets(session, url, headers, requests_kwargs.get("auth"))
    stop = threading.Event()
    interrupter = Interrupter()

    def on_cancel() -> None:
        stop.set()
        interrupter.interrupt("cancel")

    end = deadline_at(deadline)
    try:
        with watching(cancel, on_cancel, end, lambda: interrupter.interrupt("deadline")):
            for attempt in attempts(retry, until=end, cancel=stop, max_retry_after=max_retry_after, reconnect=reconnect):
                with attempt:
                    if last_event_id:
                        headers["Last-Event-ID"] = sendable_event_id(last_event_id)
                    else:
                        headers.pop("Last-Event-ID", None)
                    try:
                        source = cast(EventSource, open_stream(
                            session, method, url, secrets=secrets, deadline=attempt.deadline, interrupter=interrupter,
                            max_event_size=max_event_size, no_content=True, headers=headers,
                            timeout=attempt.timeout(timeout), **requests_kwargs
                        ))  # (results=False: never a WholeResult)
                        with source:
                            if source.response.status_code == 204:
                                logger.info("%s answered 204 No Content: the feed is over", reconnect.where)
                                return
                            decoder = source.decoder
                            decoder.last_event_id = last_event_id  # the id persists across connections
                            try:
                                for event in source.iter_sse():
                                    attempt.commit()
                                    yield event
                            finally:
                                last_event_id = decoder.last_event_id
                                if decoder.retry is not None:
                                    reconnect.server_delay(decoder.retry, max_retry_after)
                    finally:
                        interrupter.forget()
    except SSEKitError:
        if not stop.is_set():
            raise
