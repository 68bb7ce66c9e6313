"""Continuing a broken stream where it broke: the protocol each resumable wire format implements.

A :class:`Cursor` follows one stream event by event: it tells events already
delivered (a resumed stream may replay some) from new ones, notices a gap, and
says which request continues the stream after the last event it admitted. A
format whose API can resume a stream gives its :class:`~ssekit.formats.base.WireFormat`
a ``resume(url, body)`` factory returning a cursor for a request that can be
resumed (OpenAI Responses: ``background: true``; see
:class:`ssekit.formats.responses.ResponsesCursor`), None for one that cannot.
Another protocol (Gemini Interactions' ``last_event_id``) is one more cursor
class and one more factory. The HTTP side lives in :mod:`ssekit.resume`.
Standard library only.
"""
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ..completion import Completion
from ..errors import StreamGapError
from ..sse import ServerSentEvent

__all__ = ["Cursor", "ResumeRequest", "SequenceCursor", "child_url"]

#: What a failure quotes as ``.partial``: the answer rebuilt so far.
Partial = Callable[[], Completion]


class ResumeRequest(NamedTuple):
    """How a stream continues: ``GET url`` with *headers* added to the request's own;
    *last_event_id* is the SSE last-event-ID the continuation starts from (None: none)."""

    url: str
    headers: Mapping[str, str] = {}
    last_event_id: Optional[str] = None


class Cursor:
    """Where one stream is, so that it can be continued after a break (one cursor per stream).

    The stream layer hands every event to :meth:`admit` before accumulating
    it, asks :meth:`request` after a break, and calls :meth:`resumed` when the
    continuation is open. :meth:`poll_url` and :meth:`settled` are for APIs
    that can give the whole result when they refuse to stream it again.
    """

    def admit(self, event: ServerSentEvent, partial: Partial) -> bool:
        """Take one event; False for one delivered already (skip it). A gap raises :class:`StreamGapError`."""
        raise NotImplementedError

    def ready(self) -> bool:
        """True once the stream can be continued (an id and a position are known)."""
        raise NotImplementedError

    def request(self, partial: Completion) -> ResumeRequest:
        """The request continuing the stream after the last admitted event (only asked when :meth:`ready`)."""
        raise NotImplementedError

    def resumed(self) -> None:
        """A continuation is open: from now on every event must follow the last one without a gap."""

    def poll_url(self) -> Optional[str]:
        """Where the whole result can be fetched when streaming again is refused (None: nowhere)."""
        return None

    def settled(self, result: Mapping[str, Any]) -> bool:
        """True when a fetched result is final (not still queued or in progress)."""
        return True


class SequenceCursor(Cursor):
    """A cursor over events numbered 0, 1, 2... (*number_of* reads an event's number, None when it has none).

    Numbers at or below the last admitted one are duplicates; after
    :meth:`resumed`, a number past the next one is a gap.
    """

    def __init__(self) -> None:
        self.last = None  # type: Optional[int]
        self._strict = False

    def number_of(self, event: ServerSentEvent) -> Optional[int]:
        """The event's sequence number (None: it has none, and is always new)."""
        raise NotImplementedError

    def admit(self, event: ServerSentEvent, partial: Partial) -> bool:
        number = self.number_of(event)
        if number is None:
            return True
        last = self.last
        if last is not None:
            if number <= last:
                return False
            if self._strict and number != last + 1:
                raise StreamGapError(
                    "the resumed stream skipped events: sequence number %d came after %d, so %d event(s) are lost"
                    % (number, last, number - last - 1),
                    expected=last + 1,
                    received=number,
                    partial=partial(),
                )
        self.last = number
        return True

    def ready(self) -> bool:
        return self.last is not None

    def resumed(self) -> None:
        self._strict = True


def child_url(url: str, name: str, query: Iterable[Tuple[str, Any]] = ()) -> str:
    """*url* with ``/name`` added to its path and *query* to its query string (``{base}/responses`` ->
    ``{base}/responses/resp_1?stream=true``); its own query (``api-version``...) is kept."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/") + "/" + quote(name, safe="")
    added = urlencode(list(query))
    joined = "&".join(piece for piece in (parts.query, added) if piece)
    return urlunsplit((parts.scheme, parts.netloc, path, joined, ""))
