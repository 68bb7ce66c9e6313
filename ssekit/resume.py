"""Resuming a broken stream instead of failing: what ``stream_completion(..., resume=...)`` takes, and does.

Two protocols. A wire format's own, where its API can stream an answer again
(OpenAI Responses background mode, see
:class:`~ssekit.formats.responses.ResponsesCursor`): ``resume=True``. And plain
SSE, where the server puts ``id:`` on its events and continues after the
``Last-Event-ID`` header on a GET: ``resume=Resume(url=...)`` names that URL.
Either way the caller sees one uninterrupted stream: the accumulator goes on,
events the continuation repeats are skipped, a gap raises
:class:`~ssekit.errors.StreamGapError`, and ``Completion.resumed`` counts the
continuations.
"""
import contextlib
import json
import threading
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple, Union

import requests

from ._text import Secrets, printable, redact_url
from .completion import Completion
from .control import Attempt, TimeoutLike, remaining
from .errors import (
    APIStatusError,
    IncompleteStreamError,
    InvalidRequestError,
    SSEKitError,
    StreamError,
    StreamGapError,
    StreamTimeoutError,
)
from .formats import FORMATS, Accumulator, AutoAccumulator, detect_format
from .formats.resumption import Cursor, Partial, ResumeRequest
from .http import Interrupter, open_response, parse_body, read_body, sendable_event_id
from .sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent

__all__ = ["DEFAULT_MAX_RESUMES", "DEFAULT_POLL_INTERVAL", "Resume"]

#: Continuations one stream may need at most before its break is raised.
DEFAULT_MAX_RESUMES = 10
#: Seconds between two polls of a result whose stream cannot be resumed.
DEFAULT_POLL_INTERVAL = 1.0
#: Statuses of a refused continuation that are passing (retried), not a refusal (polled instead).
_PASSING = frozenset([408, 409, 429])

#: The plain-SSE resume URL: a string, or made from the answer so far (``lambda c: base + "/streams/" + c.id``).
URLRule = Union[str, Callable[[Completion], str]]


class Resume:
    """How ``stream_completion(..., resume=Resume(...))`` continues a broken stream (``resume=True`` is ``Resume()``).

    - *url* None: the wire format's own protocol (Responses: a request with
      ``"background": true`` is continued with ``starting_after``). A string,
      or a callable given the answer so far: plain SSE, a ``GET`` of that URL
      with ``Last-Event-ID`` set to the last event id seen, for servers that
      put ``id:`` on their events and continue after it.
    - *max_resumes*: continuations allowed at most (each must deliver new
      events before the next break, else the retry policy's backoff applies).
    - *poll_interval*: seconds between polls of the whole result when the API
      refuses to stream it again (Responses: some minutes after creation);
      polling goes on while the result is in progress, until the deadline.
    """

    def __init__(
        self, url: Optional[URLRule] = None, *, max_resumes: int = DEFAULT_MAX_RESUMES, poll_interval: float = DEFAULT_POLL_INTERVAL
    ) -> None:
        if url is not None and not isinstance(url, str) and not callable(url):
            raise InvalidRequestError("Resume(url=) must be a URL, a callable(completion) -> URL, or None; not %s" % type(url).__name__)
        if isinstance(max_resumes, bool) or not isinstance(max_resumes, int) or max_resumes < 1:
            raise InvalidRequestError("max_resumes must be a count >= 1, not %r" % (max_resumes,))
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or not poll_interval > 0:
            raise InvalidRequestError("poll_interval must be seconds > 0, not %r" % (poll_interval,))
        self.url = url
        self.max_resumes = max_resumes
        self.poll_interval = float(poll_interval)

    def __repr__(self) -> str:
        shown = "format's own" if self.url is None else "Last-Event-ID"
        return "Resume(%s, max_resumes=%d, poll_interval=%r)" % (shown, self.max_resumes, self.poll_interval)


#: What ``resume=`` takes.
ResumeLike = Union[bool, Resume, None]


def resume_policy(resume: Any) -> Optional[Resume]:
    """The :class:`Resume` policy of ``resume=`` (None when off); anything else is an :class:`InvalidRequestError`."""
    if resume is None or resume is False:
        return None
    if resume is True:
        return Resume()
    if isinstance(resume, Resume):
        return resume
    raise InvalidRequestError("resume must be True, False or a ssekit.Resume, not %s" % type(resume).__name__)


class EventIdCursor(Cursor):
    """Plain SSE: the last ``id:`` seen; the stream continues with ``GET url`` and ``Last-Event-ID``.

    The server continues after the event that carried that id (as EventSource
    servers do): events without an ``id:`` of their own that followed it were
    delivered already and come again, so that many are skipped. A server that
    cannot number its events has no gaps to show.
    """

    def __init__(self, url: URLRule) -> None:
        self._url = url
        self.last_event_id = None  # type: Optional[str]
        self._after = 0  # events delivered since the one that carried last_event_id
        self._repeated = 0  # of those, how many the continuation has still to repeat

    def admit(self, event: ServerSentEvent, partial: Partial) -> bool:
        if event.id and event.id != self.last_event_id:
            self.last_event_id, self._after, self._repeated = event.id, 0, 0
            return True
        if self._repeated:
            self._repeated -= 1
            return False
        self._after += 1
        return True

    def resumed(self) -> None:
        self._repeated = self._after

    def ready(self) -> bool:
        return bool(self.last_event_id)

    def request(self, partial: Completion) -> ResumeRequest:
        last = str(self.last_event_id)
        url = self._url if isinstance(self._url, str) else self._url(partial)
        return ResumeRequest(url, {"Last-Event-ID": sendable_event_id(last)}, last)


def _format_of(accumulator: Accumulator) -> Optional[str]:
    """The format an accumulator reads (None while ``"auto"`` has not recognised it)."""
    if isinstance(accumulator, AutoAccumulator):
        return accumulator.delegate.format if accumulator.delegate is not None else None
    return accumulator.format


class Resumption:
    """One stream's resumption: its cursor, how often it was continued, whether the current try advanced it."""

    def __init__(self, policy: Resume, url: str, body: Any) -> None:
        self.policy = policy
        #: Continuations opened so far (``Completion.resumed``).
        self.count = 0
        self._url = url
        self._body = body
        self._cursor = EventIdCursor(policy.url) if policy.url is not None else None  # type: Optional[Cursor]
        self._decided = self._cursor is not None
        self._advanced = False
        self._refused = False  # the API would not stream it again: poll from now on
        self._continuing = False  # the current try continues the stream

    def _decide(self, format: Optional[str]) -> None:
        """Take the cursor of *format*'s own protocol, once the format is known."""
        spec = FORMATS.get(format or "")
        if spec is None:
            return
        self._decided = True
        self._cursor = spec.resume(self._url, self._body) if spec.resume is not None else None

    def admitted(self, events: Iterator[ServerSentEvent], accumulator: Accumulator, partial: Partial) -> Iterator[ServerSentEvent]:
        """*events* without the ones delivered already (a gap raises :class:`~ssekit.errors.StreamGapError`)."""
        for event in events:
            if not self._decided:
                self._decide(_format_of(accumulator) or detect_format(event))
            cursor = self._cursor
            if cursor is None:
                yield event
            elif cursor.admit(event, partial):
                self._advanced = True
                yield event

    def begin(self, partial: Completion, headers: Mapping[str, str]) -> Optional[ResumeRequest]:
        """A try starts: the continuation to request (*headers* plus its own), None for the first request."""
        self._advanced = False
        cursor = self._cursor
        self._continuing = cursor is not None and cursor.ready()
        if cursor is None or not self._continuing:
            return None
        request = cursor.request(partial)
        merged = dict(headers)
        merged.update(request.headers)
        return request._replace(headers=merged)

    def should_resume(self, error: BaseException) -> bool:
        """The ``attempts(resume=...)`` predicate: the try advanced the stream before it broke, and may be continued."""
        return (
            self._advanced
            and isinstance(error, IncompleteStreamError)
            and self.count < self.policy.max_resumes
            and self._cursor is not None
            and self._cursor.ready()
        )

    def opened(self) -> None:
        """A continuation answered: count it; from now on the stream must go on without a gap."""
        self.count += 1
        assert self._cursor is not None
        self._cursor.resumed()

    def refused(self, error: APIStatusError) -> bool:
        """True when the API refuses to stream the answer again (a 4xx) and its whole result can be polled."""
        status = error.status_code
        if not 400 <= status < 500 or status in _PASSING or self._cursor is None or self._cursor.poll_url() is None:
            return False
        self._refused = True
        return True

    @property
    def polling(self) -> bool:
        """True once streaming again was refused: later tries poll the result."""
        return self._refused

    def poll(self, fetch: Callable[[str], Any], stop: threading.Event, deadline: Optional[float], partial: Partial) -> Optional[Dict[str, Any]]:
        """Fetch the whole result until it is settled (None: cancelled meanwhile), every ``poll_interval`` seconds."""
        cursor = self._cursor
        assert cursor is not None
        url = cursor.poll_url()
        assert url is not None
        while True:
            result = fetch(url)
            if not isinstance(result, dict):
                raise IncompleteStreamError(
                    "the stream broke and could not be resumed: polling %s gave no JSON object" % redact_url(url),
                    partial=partial(),
                )
            if cursor.settled(result):
                self.count += 1
                return result
            left = remaining(deadline)
            if left is not None and left <= self.policy.poll_interval:
                raise StreamTimeoutError(
                    "the deadline passes before the polled result settles (status %s)" % printable(str(result.get("status")), 40),
                    partial=partial(),
                )
            if stop.wait(self.policy.poll_interval):
                return None

    @staticmethod
    def complete(accumulator: Accumulator, result: Dict[str, Any]) -> Tuple[ServerSentEvent, str]:
        """Finish the answer from the whole *result*: the event standing for it, and the text not delivered yet."""
        before = accumulator.completion.text
        accumulator.add(result)
        after = accumulator.completion.text
        delta = after[len(before):] if after.startswith(before) else ""
        return ServerSentEvent(data=json.dumps(result, ensure_ascii=False)), delta

    def failed(self, error: SSEKitError, partial: Completion) -> SSEKitError:
        """What a failure becomes: one of a continuation's request (an HTTP error, no connection, a wrong
        content type) is an :class:`IncompleteStreamError` quoting it; the stream's own failures stay as they are."""
        if not self._continuing or isinstance(error, (IncompleteStreamError, StreamError, StreamGapError, InvalidRequestError)):
            return error
        wrapped = IncompleteStreamError(
            "the stream broke and could not be resumed (%s); %d characters of text received so far are in .partial"
            % (error, len(partial.text)),
            partial=partial,
        )
        wrapped.__cause__ = error
        return wrapped


def fetch_json(
    session: requests.Session,
    url: str,
    *,
    secrets: Secrets,
    headers: Mapping[str, str],
    attempt: Attempt,
    timeout: TimeoutLike,
    interrupter: Interrupter,
    partial: Optional[Completion],
    max_size: int = DEFAULT_MAX_EVENT_SIZE,
    **kwargs: Any
) -> Any:
    """``GET url`` for a JSON document within the attempt's deadline (an HTTP error raises :class:`APIStatusError`)."""
    sent = dict(headers)
    sent["Accept"] = "application/json"
    response = open_response(
        session, "GET", url, secrets=secrets, deadline=attempt.deadline, interrupter=interrupter, partial=partial,
        headers=sent, timeout=attempt.timeout(timeout, partial), **kwargs
    )
    with contextlib.closing(response):
        return parse_body(response, read_body(response, max_size, attempt.deadline, partial))
