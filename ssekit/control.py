"""Control of a stream's lifetime: deadlines, cancellation watching, and the retry loop.

The retry loop reuses :class:`urllib3.util.Retry` for the policy (how many
tries of which kind) and its arithmetic (exponential backoff, jitter,
``Retry-After``); ssekit only decides *what* is worth another try. Callers who
build their own requests get the same loop as :func:`attempts`::

    for attempt in ssekit.attempts(3, deadline=60):
        with attempt:
            with ssekit.connect_sse(session, "POST", url, json=body,
                                    timeout=attempt.timeout((5, 30))) as source:
                for sse in source.iter_sse():
                    attempt.commit()      # output reaches the caller: no silent retry from here
                    print(sse.data)
"""
import contextlib
import logging
import math
import random
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Optional, Tuple, Union

import requests
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ProtocolError, ReadTimeoutError
from urllib3.response import HTTPResponse
from urllib3.util.retry import Retry

from .errors import (
    APIStatusError,
    IncompleteStreamError,
    InvalidRequestError,
    SSEKitError,
    StreamConnectionError,
    StreamError,
    StreamTimeoutError,
)
from ._text import redact_url
from .http import parse_retry_after, short_reason

if TYPE_CHECKING:
    from .completion import Completion

__all__ = ["Attempt", "attempts"]


logger = logging.getLogger("ssekit")

#: Statuses retried when the policy names none: timeout, conflict, rate limit, server errors.
RETRY_STATUSES = frozenset([408, 409, 429] + list(range(500, 600)))
#: The status an in-stream error that says it is passing (``StreamError.retryable``) counts as: 503.
PASSING_STREAM_ERROR_STATUS = 503
#: Backoff factor of the policy an ``int`` retry count gets (urllib3: factor * 2 ** (n - 1)).
DEFAULT_BACKOFF_FACTOR = 0.5
#: Most seconds of random jitter added to each backoff.
DEFAULT_JITTER = 0.5
#: Longest ``Retry-After`` honoured, in seconds (a longer one is cut to this).
MAX_RETRY_AFTER = 60.0
#: How often a cancel watcher looks at the caller's ``threading.Event`` (seconds).
WATCH_INTERVAL = 0.01
#: Feeds: the shortest wait before a reconnection, whatever the server's ``retry:`` says (seconds).
MIN_RECONNECT_DELAY = 0.25
#: Feeds: the longest wait the backoff after consecutive failed connections grows to (seconds).
MAX_RECONNECT_BACKOFF = 60.0

#: What ``retry=`` accepts: a count of retries after the first try, or a urllib3 Retry.
RetryLike = Union[int, Retry, None]
#: ``attempts(resume=...)``: True when a failure broke a stream that advanced and can be continued.
Resumable = Callable[[BaseException], bool]
#: A timeout as requests takes it: seconds, ``(connect, read)``, or None for none.
TimeoutLike = Union[None, float, Tuple[Optional[float], Optional[float]]]

# urllib3 >= 1.26 names it allowed_methods, older versions method_whitelist.
_METHODS_ARG = "allowed_methods" if hasattr(Retry, "DEFAULT_ALLOWED_METHODS") else "method_whitelist"
# urllib3 >= 2 adds backoff_jitter itself; for older versions ssekit adds it.
_HAS_JITTER = "backoff_jitter" in vars(Retry())
# The method handed to Retry.increment: any will do, since ssekit clears the method filter.
_ANY_METHOD = "POST"


# --- deadlines ---------------------------------------------------------------


def deadline_at(seconds: Optional[float]) -> Optional[float]:
    """The ``time.monotonic()`` instant *seconds* from now (None: no deadline)."""
    return None if seconds is None else time.monotonic() + seconds


def remaining(deadline: Optional[float]) -> Optional[float]:
    """Seconds left before the monotonic *deadline* (never negative), None without one."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def bounded_timeout(
    timeout: TimeoutLike, deadline: Optional[float], partial: "Optional[Completion]" = None
) -> TimeoutLike:
    """*timeout* as requests takes it, each part cut to the time left before *deadline*.

    Raises :class:`StreamTimeoutError` when the deadline has already passed,
    carrying *partial* (the answer received so far, when the request continues one).
    """
    left = remaining(deadline)
    if left is None:
        return timeout
    if left <= 0:
        raise StreamTimeoutError("the deadline passed before the request could be sent", partial=partial)
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return (left if connect is None else min(connect, left), left if read is None else min(read, left))


def _seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def check_timeout(timeout: Any) -> None:
    """Refuse a ``timeout=`` requests would choke on: seconds >= 0, ``(connect, read)``, or None."""
    parts = timeout if isinstance(timeout, tuple) and len(timeout) == 2 else (timeout,)
    if not all(part is None or _seconds(part) for part in parts):
        raise InvalidRequestError(
            "timeout must be seconds >= 0, a (connect, read) pair of them, or None; not %r" % (timeout,)
        )


def check_deadline(deadline: Any) -> None:
    """Refuse a ``deadline=`` that is not a number of seconds > 0 (None: no deadline)."""
    if deadline is not None and not (_seconds(deadline) and deadline > 0):
        raise InvalidRequestError("deadline must be seconds > 0 or None, not %r" % (deadline,))


def check_cancel(cancel: Any) -> None:
    """Refuse a ``cancel=`` that is not a ``threading.Event`` (None: none)."""
    if cancel is not None and not isinstance(cancel, threading.Event):
        raise InvalidRequestError("cancel must be a threading.Event or None, not %s" % type(cancel).__name__)


# --- cancellation ------------------------------------------------------------


def wait(seconds: float, cancel: Optional[threading.Event] = None) -> bool:
    """Sleep *seconds*, waking early when *cancel* is set; True if it was cancelled."""
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)


@contextlib.contextmanager
def watching(
    event: Optional[threading.Event],
    on_set: Callable[[], Any],
    deadline: Optional[float] = None,
    on_deadline: Optional[Callable[[], Any]] = None,
) -> Iterator[None]:
    """Call ``on_set()`` from a small thread once *event* is set, or ``on_deadline()`` at the
    monotonic *deadline*, for the length of the block.

    A ``threading.Event`` or a clock cannot wake a thread blocked on a socket,
    so the watcher does it (the callbacks shut the socket down). The thread is
    joined when the block ends; with neither *event* nor *deadline* nothing
    is started.
    """
    if on_deadline is None:
        deadline = None
    if event is None and deadline is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            left = remaining(deadline)
            if left is not None and left <= 0:
                assert on_deadline is not None
                on_deadline()
                return
            step = WATCH_INTERVAL if left is None else min(WATCH_INTERVAL, left) if event is not None else left
            if event is None:
                done.wait(step)
            elif event.wait(step):
                on_set()
                return

    thread = threading.Thread(target=watch, name="ssekit-cancel-watcher")
    thread.daemon = True
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


# --- the retry loop ----------------------------------------------------------


def retry_policy(retry: RetryLike) -> Retry:
    """The :class:`~urllib3.util.Retry` ssekit uses for *retry* (an int count or a Retry).

    An int *n* gives ``total=n`` with exponential backoff and jitter over
    :data:`RETRY_STATUSES`. A Retry keeps its counts, backoff and
    ``Retry-After`` settings; it gets :data:`RETRY_STATUSES` when its
    ``status_forcelist`` is empty, and its method filter is cleared because
    ssekit retries only before any output reached the caller.
    """
    if retry is None:
        retry = 0
    if isinstance(retry, Retry):
        return retry.new(**{_METHODS_ARG: None, "status_forcelist": retry.status_forcelist or RETRY_STATUSES})
    if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
        raise InvalidRequestError("retry must be a count of retries (int >= 0) or a urllib3 Retry, not %r" % (retry,))
    options = {"total": retry, "backoff_factor": DEFAULT_BACKOFF_FACTOR, "status_forcelist": RETRY_STATUSES}  # type: Dict[str, Any]
    options[_METHODS_ARG] = None
    if _HAS_JITTER:
        options["backoff_jitter"] = DEFAULT_JITTER
    return Retry(**options)


def describe(error: BaseException) -> str:
    """*error* in a log line: ssekit messages as they are, requests' without their URL query (keys hide there)."""
    if isinstance(error, SSEKitError):
        return str(error)
    response = getattr(error, "response", None)
    if isinstance(error, requests.HTTPError) and response is not None:
        return "HTTP %d %s from %s" % (response.status_code, response.reason or "", redact_url(response.url or ""))
    return "%s (%s)" % (type(error).__name__, short_reason(error))


def _status_of(error: BaseException) -> Optional[Tuple[int, Any, Optional[float]]]:
    """(status, headers, Retry-After seconds) of an HTTP status failure, else None."""
    if isinstance(error, APIStatusError):
        return error.status_code, error.headers, error.retry_after
    if isinstance(error, StreamError) and error.retryable:  # overloaded or rate limited inside the stream
        return PASSING_STREAM_ERROR_STATUS, {}, None
    response = getattr(error, "response", None)
    if isinstance(error, requests.HTTPError) and response is not None:
        return response.status_code, response.headers, parse_retry_after(response.headers.get("Retry-After"))
    return None


def _counted_as(error: BaseException) -> Optional[Dict[str, Any]]:
    """What ``Retry.increment`` is told about *error* (the urllib3 response or error it stands
    for), or None when *error* is not a kind ssekit ever retries."""
    status = _status_of(error)
    if status is not None:
        return {"response": HTTPResponse(body=b"", headers=status[1], status=status[0], preload_content=False)}
    reason = describe(error)
    if isinstance(error, StreamTimeoutError):
        return {"error": ReadTimeoutError(None, None, reason)}  # type: ignore[arg-type]  # (no pool to name)
    if isinstance(error, (StreamConnectionError, requests.ConnectionError)):  # ConnectTimeout included
        return {"error": ConnectTimeoutError(reason)}  # urllib3's class for "could not connect"
    if isinstance(error, requests.Timeout):
        return {"error": ReadTimeoutError(None, None, reason)}  # type: ignore[arg-type]  # (no pool to name)
    if isinstance(error, IncompleteStreamError):
        return {"error": ProtocolError(reason)}
    return None


def retry_candidate(error: BaseException) -> bool:
    """True for the failures a policy may retry: connection, timeout, broken stream, HTTP status."""
    return _counted_as(error) is not None


def next_policy(policy: Retry, error: BaseException) -> Optional[Retry]:
    """*policy* with *error* counted (``Retry.increment``), or None when it must not be retried."""
    counted = _counted_as(error)
    if counted is None:
        return None
    status = _status_of(error)
    if status is not None and not policy.is_retry(_ANY_METHOD, status[0], has_retry_after=status[2] is not None):
        return None
    try:
        return policy.increment(_ANY_METHOD, None, **counted)
    except HTTPError:  # MaxRetryError, or the error re-raised by a disabled policy
        return None


def retry_after(error: BaseException, cap: float = MAX_RETRY_AFTER) -> Optional[float]:
    """The ``Retry-After`` wait an HTTP status failure carries, cut to *cap*; None if it has none."""
    status = _status_of(error)
    if status is None or status[2] is None:
        return None
    return min(status[2], cap)


def unlimited_policy() -> Retry:
    """A policy that never runs out of retries (feeds: ``follow_sse`` with ``retry=None``)."""
    return retry_policy(Retry(total=None, connect=None, read=None, redirect=None, status=None, backoff_factor=0))


def retry_delay(policy: Retry, error: BaseException, max_retry_after: float = MAX_RETRY_AFTER) -> float:
    """Seconds to wait before the next try: urllib3's backoff plus jitter, or Retry-After if longer.

    urllib3 gives the first retry no backoff (and no jitter); ssekit jitters
    it too, so that clients failed together by one server do not come back
    together.
    """
    delay = float(policy.get_backoff_time())
    if delay == 0 or not _HAS_JITTER:
        delay += random.random() * DEFAULT_JITTER
    server_wait = retry_after(error, max_retry_after)
    if server_wait is not None and policy.respect_retry_after_header:
        delay = max(delay, server_wait)
    return delay


class Attempt:
    """One try of :func:`attempts`: run it as ``with attempt:``.

    A retryable failure inside the block is held back so the loop can decide
    to try again; any other exception, or any failure after :meth:`commit`
    (unless the loop follows a feed), propagates unchanged.
    """

    def __init__(
        self, number: int, deadline: Optional[float], hold_committed: bool = False, resume: Optional[Resumable] = None
    ) -> None:
        #: 1 for the first try, 2 for the first retry, ...
        self.number = number
        #: The ``time.monotonic()`` instant the whole loop must end by (None: no deadline).
        self.deadline = deadline
        #: True once output reached the caller (see :meth:`commit`).
        self.committed = False
        #: The failure held back for the loop, if any.
        self.error = None  # type: Optional[BaseException]
        #: True when the held failure broke a stream that can be continued (see :func:`attempts`).
        self.resuming = False
        self._hold_committed = hold_committed
        self._resume = resume

    def __repr__(self) -> str:
        return "<Attempt %d%s>" % (self.number, " committed" if self.committed else "")

    def commit(self) -> None:
        """Mark that output reached the caller: from now on a failure is never retried silently."""
        self.committed = True

    def timeout(self, timeout: TimeoutLike = None, partial: "Optional[Completion]" = None) -> TimeoutLike:
        """*timeout* for requests, each part cut to what is left of the deadline (past it: a
        :class:`StreamTimeoutError` carrying *partial*, what a continued answer received so far)."""
        return bounded_timeout(timeout, self.deadline, partial)

    def __enter__(self) -> "Attempt":
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception) or not retry_candidate(exc):
            return False
        self.resuming = self._resume is not None and self._resume(exc)
        if self.committed and not self._hold_committed and not self.resuming:
            return False
        self.error = exc
        return True


class Reconnect:
    """How a feed's loop reconnects, as a browser's EventSource does (see :func:`attempts`).

    After a connection that ended or delivered events, it waits the server's
    ``retry:`` delay (*delay* until one came), never less than
    :data:`MIN_RECONNECT_DELAY`. After consecutive connections that failed
    without delivering anything, that wait doubles each time up to
    :data:`MAX_RECONNECT_BACKOFF`, plus jitter (a longer ``Retry-After`` wins).
    """

    def __init__(self, where: str, delay: float, max_reconnects: Optional[int] = None) -> None:
        self.where = where
        self.delay = delay
        self.max_reconnects = max_reconnects

    def server_delay(self, milliseconds: int, cap: float) -> None:
        """Take the server's ``retry:`` field (any size: compared as an int, cut to *cap* seconds)."""
        self.delay = min(milliseconds, int(cap * 1000)) / 1000.0

    def pause(self, failures: int) -> float:
        """Seconds before the next connection after *failures* consecutive failed ones."""
        base = max(self.delay, MIN_RECONNECT_DELAY)
        if failures == 0:
            return base
        return min(base * 2.0 ** min(failures - 1, 32), max(MAX_RECONNECT_BACKOFF, base))


def attempts(
    retry: RetryLike = 2,
    *,
    deadline: Optional[float] = None,
    cancel: Optional[threading.Event] = None,
    max_retry_after: float = MAX_RETRY_AFTER,
    reconnect: Optional[Reconnect] = None,
    until: Optional[float] = None,
    resume: Optional[Resumable] = None,
) -> Iterator[Attempt]:
    """Yield :class:`Attempt` objects until one succeeds, with ssekit's retry policy.

    *retry* is an int (retries after the first try) or a urllib3 ``Retry``
    (see :func:`retry_policy`). Retried, while no attempt was committed:
    connection errors, timeouts, streams broken before their end, and the
    statuses of the policy (408/409/429/5xx by default), with urllib3's
    exponential backoff plus jitter or the ``Retry-After`` wait when longer
    (cut to *max_retry_after*). Each retry is logged on the ``ssekit``
    logger at WARNING. When retries are spent, the wait would pass
    *deadline* (total seconds, counted from the first try), or the failure
    is not retryable, the last failure is raised. Setting *cancel* (a
    ``threading.Event``) during a wait ends the loop quietly::

        for attempt in ssekit.attempts(3):
            with attempt:
                response = session.post(url, json=body, timeout=attempt.timeout(10))
                response.raise_for_status()

    With *reconnect* the loop follows a feed: it goes on after attempts that
    ended well too, and a failure after output (a dropped feed) is retried;
    the policy counts consecutive failed connections only, and the waits are
    those of :class:`Reconnect`. It ends after ``reconnect.max_reconnects``
    reconnections, raising the last failure if that connection delivered nothing.
    *until* gives the deadline as a ``time.monotonic()`` instant instead (one
    shared with a watcher, see :func:`watching`).

    With *resume* (a predicate on the failure), a failure for which it is
    True (the stream advanced, then broke, and can be continued) is held even
    after output, and the next attempt follows at once with a fresh policy:
    the policy bounds consecutive tries that made no progress.
    """
    fresh = policy = retry_policy(retry)
    end = deadline_at(deadline) if until is None else until
    number = failures = 0
    while True:
        number += 1
        attempt = Attempt(number, end, hold_committed=reconnect is not None, resume=resume)
        yield attempt
        error = attempt.error
        if reconnect is None:
            if error is None:
                return
        elif error is None or attempt.committed:
            policy, failures = fresh, 0
        if reconnect is not None and reconnect.max_reconnects is not None and number > reconnect.max_reconnects:
            if error is not None and not attempt.committed:
                raise error
            return
        if attempt.resuming:  # the stream advanced before it broke: continue it now
            policy, failures = fresh, 0
        elif error is not None and not attempt.committed:  # (a committed failure propagated, unless following a feed)
            counted = next_policy(policy, error)
            if counted is None:
                raise error
            policy = counted
            failures += 1
        delay = retry_delay(policy, error, max_retry_after) if error is not None and failures else 0.0
        if reconnect is not None:
            delay = max(delay, reconnect.pause(failures))
        reason = describe(error) if error is not None else "the stream ended"
        left = remaining(end)
        if left is not None and delay >= left:
            logger.warning("not retrying: waiting %.2f s would pass the deadline (%.2f s left): %s", delay, left, reason)
            raise error if error is not None else StreamTimeoutError(
                "the deadline passes before the next reconnection to %s" % reconnect.where  # type: ignore[union-attr]
            )
        if reconnect is not None:
            logger.info("reconnecting to %s in %.2f s (%s)", reconnect.where, delay, reason)
        elif attempt.resuming:
            logger.warning("attempt %d broke after progress, resuming the stream: %s", number, reason)
        else:
            logger.warning("attempt %d failed, retrying in %.2f s: %s", number, delay, reason)
        if wait(delay, cancel):
            return
