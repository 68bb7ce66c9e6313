"""The Server-Sent-Events decoder and encoder: bytes in, events out, and back (standard library only).

Implements the WHATWG HTML "Server-sent events" parsing rules: UTF-8 with
replacement characters, one leading BOM dropped, CRLF / LF / CR line ends,
comments, the ``event`` / ``data`` / ``id`` / ``retry`` fields, and no dispatch
of an unterminated event at end of input. The result is the same for any
chunking of the same bytes. Runs of the blocks LLM streams are made of
(``data:`` + blank line, or ``event:`` + ``data:`` + blank line) are cut into
events by ``bytes.split`` and ``map`` without a Python loop per event (see
``SSEDecoder._bulk``); anything else goes through a per-line loop that keeps
its state in local variables. Nothing loops per byte in Python: this is the
hot path of every client.

``max_event_size`` bounds the memory held, not only the characters counted:
an unterminated line is kept in one buffer however small the reads, and long
runs of data lines are joined as they come. :meth:`ServerSentEvent.encode` and
:func:`encode_comment` write the same grammar for servers and relays.
"""
import json
import platform
from bisect import bisect_right
from itertools import accumulate, repeat
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

from ._text import preview
from .errors import EventTooLargeError, InvalidRequestError, MalformedEventError

__all__ = [
    "ServerSentEvent",
    "encode_comment",
    "SSEDecoder",
    "iter_sse",
    "iter_sse_lines",
    "DEFAULT_MAX_EVENT_SIZE",
    "MAX_RETRY",
]


#: Default limit for one line and for one event's data (bytes / characters).
DEFAULT_MAX_EVENT_SIZE = 8 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_MAX_EVENT_NAMES = 256  # distinct ``event:`` lines remembered decoded, per decoder
#: The largest ``retry`` value kept (ms): a longer run of digits, which the spec
#: allows, saturates here instead of meeting Python's int-string digit limit.
MAX_RETRY = 2 ** 63 - 1
_MAX_RETRY_DIGITS = len(str(MAX_RETRY))
#: Each run of this many data lines of one event is joined into one string (see ``_apply_lines``).
_FOLD_LINES = 1024


class _NotUsual(Exception):
    """A block does not have the usual shape: decode it by the field rules instead."""


class ServerSentEvent(NamedTuple):
    """One dispatched event: a read-only named tuple, hashable, equal only to another event.

    ``id`` is the last-event-ID buffer at dispatch time: it persists across
    events and is ``None`` until the stream sends an ``id`` field. ``retry``
    is set only when this event's own block carried a valid ``retry`` field.
    ``event._replace(data=...)`` gives a changed copy.
    """

    event: str = "message"
    data: str = ""
    id: Optional[str] = None
    retry: Optional[int] = None

    def json(self) -> Any:
        """The data parsed as JSON; :class:`MalformedEventError` if it is not JSON."""
        try:
            return json.loads(self.data)
        except ValueError as exc:
            raise MalformedEventError(
                "event data is not valid JSON (%s): %s" % (exc, preview(self.data)),
                data=self.data,
            ) from None

    def encode(self) -> bytes:
        """This event as SSE bytes (UTF-8, LF line ends, ending with a blank line).

        Decoding them gives this event back. Each field is written ``name: value``:
        the one space after the colon is the one decoders drop, so a value's own
        leading spaces survive. Every CR, LF or CRLF in ``data`` starts a new
        ``data:`` line (decoded, each is an LF: the wire cannot carry a CR).
        ``event`` is left out when it is ``"message"`` or empty (both decode as
        ``"message"``). ``id``, the persisting last-event-ID, is written whenever
        it is not ``None`` (repeating it is harmless, and a relayed stream keeps
        its resume points). :class:`~ssekit.errors.InvalidRequestError` (a
        ``ValueError``) refuses what would corrupt the stream or not come back:
        CR or LF in ``event`` or ``id``, NUL in ``id``, a ``retry`` that is not an
        int from 0 to :data:`MAX_RETRY`, text that is not encodable as UTF-8.
        """
        head = ""
        if self.event and self.event != "message":
            head = "event: %s\n" % _single_line("event", self.event, "\r\n")
        if self.id is not None:
            head += "id: %s\n" % _single_line("id", self.id, "\r\n\0")
        retry = self.retry
        if retry is not None:
            if retry.__class__ is not int or not 0 <= retry <= MAX_RETRY:
                message = "SSE retry must be an int from 0 to %d, not %s" % (MAX_RETRY, preview(repr(retry)))
                raise InvalidRequestError(message)
            head += "retry: %d\n" % retry
        data = self.data
        if "\r" in data:
            data = data.replace("\r\n", "\n").replace("\r", "\n")
        return _utf8(head + "data: " + data.replace("\n", "\ndata: ") + "\n\n")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ServerSentEvent):
            return tuple.__eq__(self, other)
        return False if isinstance(other, tuple) else NotImplemented  # a plain tuple is not an event

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:  # (defining __eq__ would otherwise unset it)
        return tuple.__hash__(self)


#: Builds a ServerSentEvent from a 4-tuple in C, skipping NamedTuple's Python-level
#: ``__new__``: the decoder makes one per event.
_new_event = tuple.__new__


def encode_comment(text: str = "") -> bytes:
    """An SSE comment (``: text``, one per line of *text*) ending with a blank line.

    Decoders ignore comments: they serve as keep-alives while a stream is silent.
    Text not encodable as UTF-8 raises :class:`~ssekit.errors.InvalidRequestError`.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _utf8(": " + text.replace("\n", "\n: ") + "\n\n")


def _single_line(name: str, value: str, forbidden: str) -> str:
    """*value* of field *name*, refused if it holds a character of *forbidden*."""
    for char in forbidden:
        if char in value:
            raise InvalidRequestError("SSE %s cannot contain %r: %s" % (name, char, preview(value)))
    return value


def _utf8(text: str) -> bytes:
    """*text* encoded as UTF-8; a lone surrogate is an :class:`InvalidRequestError`."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError("SSE text is not encodable as UTF-8 (%s)" % exc.reason) from None


def _retry_value(digits: str) -> int:
    """The reconnection time an all-ASCII-digit ``retry`` value sets, capped at :data:`MAX_RETRY`.

    Only the significant digits are converted, so no length of field (a
    hostile server may send thousands of digits) can raise.
    """
    if len(digits) > _MAX_RETRY_DIGITS:
        digits = digits.lstrip("0")
        if len(digits) > _MAX_RETRY_DIGITS:
            return MAX_RETRY
    return min(int(digits or "0"), MAX_RETRY)


# How _bulk proves that its blocks hold single lines, finds the pieces that do not, strips the
# prefixes of many lines at once and makes the events: CPython in C calls (join, split, memchr, map);
# PyPy, whose JIT runs short loops faster than its bytes.join and map, with counts and comprehensions.
# Each pair gives the same results.
if platform.python_implementation() == "PyPy":

    def _single_lines(blocks: bytes, pieces: List[bytes], per_block: int, eol: bytes = b"\n") -> bool:
        """True if *blocks*, cut into *pieces* by separators, hold no line end but the *per_block* *eol*s of each block."""
        ends = per_block * len(pieces)
        return blocks.count(b"\n") == ends and (eol == b"\n" or blocks.count(b"\r") == ends)

    def _pieces_with_lf(pieces: List[bytes], most: int) -> Optional[List[int]]:
        """The indexes of the pieces that hold an LF, in order; None if there are more than *most*."""
        found = [index for index, piece in enumerate(pieces) if b"\n" in piece]
        return found if len(found) <= most else None

    def _values(lines: List[bytes], prefix: bytes) -> List[str]:
        """The decoded values of *lines*, which must all start with *prefix* (:class:`_NotUsual` otherwise)."""
        size = len(prefix)
        values = [line[size:].decode() for line in lines if line[:size] == prefix]
        if len(values) != len(lines):
            raise _NotUsual
        return values

    def _events(names: Iterable[str], datas: Iterable[str], last_id: Optional[str]) -> List[ServerSentEvent]:
        """The events of *names* and *datas* in pairs, all with the last event ID *last_id*."""
        return [_new_event(ServerSentEvent, (name, data, last_id, None)) for name, data in zip(names, datas)]

else:

    def _single_lines(blocks: bytes, pieces: List[bytes], per_block: int, eol: bytes = b"\n") -> bool:
        """True if *blocks*, cut into *pieces* by separators, hold no line end but the *per_block* *eol*s of each block."""
        joined = b"".join(pieces)  # (bytes.count would go byte by byte)
        return b"\n" not in joined and (eol == b"\n" or b"\r" not in joined)

    def _pieces_with_lf(pieces: List[bytes], most: int) -> Optional[List[int]]:
        """The indexes of the pieces that hold an LF, in order; None if there are more than *most*.

        One search in the pieces joined; the pieces' ends locate each LF by bisection.
        """
        joined = b"".join(pieces)
        at = joined.find(b"\n")
        if at < 0:
            return []
        ends = list(accumulate(map(len, pieces)))  # where each piece ends in joined
        found = []  # type: List[int]
        while at >= 0:
            if len(found) == most:
                return None
            index = bisect_right(ends, at)
            found.append(index)
            at = joined.find(b"\n", ends[index])
        return found

    def _values(lines: List[bytes], prefix: bytes) -> List[str]:
        """The decoded values of *lines*, which must all start with *prefix* (:class:`_NotUsual` otherwise).

        Joined and split again: the split gives one piece per line only if every
        line (none holds an LF) starts with the prefix, and the pieces are the values.
        """
        joined = b"\n".join(lines)
        values = joined.split(b"\n" + prefix)
        if len(values) != len(lines) or joined[: len(prefix)] != prefix:
            raise _NotUsual
        values[0] = values[0][len(prefix) :]
        return list(map(bytes.decode, values))

    def _events(names: Iterable[str], datas: Iterable[str], last_id: Optional[str]) -> List[ServerSentEvent]:
        """The events of *names* and *datas* in pairs, all with the last event ID *last_id*."""
        return list(map(_new_event, repeat(ServerSentEvent), zip(names, datas, repeat(last_id), repeat(None))))


class SSEDecoder:
    """Incremental decoder: ``feed(bytes) -> [events]``, then ``close()`` at end of input.

    Events are returned as soon as their blank line has been fed; only an
    unterminated line is kept between calls. ``last_event_id`` and ``retry``
    (the reconnection time in ms last sent by the server, even in a block that
    dispatched nothing) describe the stream for reconnecting clients.
    A line or an event's data over ``max_event_size`` raises
    :class:`EventTooLargeError`; the decoder is unusable afterwards. That is
    the only exception any input bytes can cause. A ``retry`` value of any
    length is valid, as the spec says; past :data:`MAX_RETRY` ms it is capped.
    """

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self.max_event_size = max_event_size
        self.last_event_id = None  # type: Optional[str]
        self.retry = None  # type: Optional[int]
        # The unterminated end of the input: one bytes piece, or a bytearray once a
        # second piece arrives, so tiny reads cost their bytes and nothing per piece.
        self._partial_line = b""  # type: Union[bytes, bytearray]
        self._skip_lf = False  # the previous chunk ended with CR
        self._at_start = True  # the BOM check is still to be made
        self._event_type = ""
        # The data buffer: None (empty), the only line so far, or a list of lines.
        self._data = None  # type: Union[None, str, List[str]]
        self._data_size = 0  # counted from the second data line on
        self._data_folded = 0  # how many leading items of a data list are folded runs of lines
        self._event_retry = None  # type: Optional[int]
        self._field_seen = False  # a field of the current block was seen
        self._names = {}  # type: Dict[bytes, str]  # b"event: x" line -> "x", for the usual blocks

    @property
    def pending(self) -> bool:
        """True when input ended (so far) inside a line or an undispatched event."""
        return bool(self._partial_line) or self._field_seen

    def feed(self, chunk: bytes) -> List[ServerSentEvent]:
        """Decode *chunk* and return the events it completes (possibly none)."""
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" not in chunk:
            return self._feed_lfs(chunk)
        # Lines that end in CRLF (Gemini's): a run of usual data-only blocks is cut as it is, which
        # spares the copy that makes every CR an LF; the rest, and any other run, takes that copy.
        end = chunk.rfind(b"\r\n\r\n") + 4  # just after the last blank line (3: there is none)
        start = 0
        if self._partial_line or self._field_seen or self._at_start:
            start = 2 if chunk[:2] == b"\r\n" and self._field_seen and not self._partial_line else chunk.find(b"\r\n\r\n") + 4
        if end < 4 or start >= end or chunk[start : start + 6] != b"data: ":
            return self._feed_crs(chunk)
        events = self._feed_crs(chunk[:start]) if start else []
        bulk = self._bulk(chunk[start:end], b"\r\n")
        if bulk is None:
            return events + self._feed_crs(chunk[start:])
        return events + bulk + self._feed_crs(chunk[end:])

    def _feed_crs(self, chunk: bytes) -> List[ServerSentEvent]:
        """Decode *chunk* with each CRLF and lone CR made an LF (a CR at its end may pair with the next chunk's LF)."""
        self._skip_lf = chunk[-1:] == b"\r"
        return self._feed_lfs(chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))

    def _feed_lfs(self, chunk: bytes) -> List[ServerSentEvent]:
        """Decode *chunk*, which holds no CR: runs of usual blocks in bulk, the rest by the rules."""
        end = chunk.rfind(b"\n\n") + 2  # just after the last blank line (1: there is none)
        start = 0  # where whole blocks begin: the rules first finish an event begun earlier (and check the BOM)
        if self._partial_line or self._field_seen or self._at_start:
            start = 1 if chunk[:1] == b"\n" and self._field_seen and not self._partial_line else chunk.find(b"\n\n") + 2
        if end < 2 or start >= end:
            return self._feed_lines(chunk)
        events = self._feed_lines(chunk[:start]) if start else []
        bulk = self._bulk(chunk[start:end])
        if bulk is None:  # not the usual shape: the rules, line by line
            events += self._feed_lines(chunk[start:])
        else:
            events += bulk
            if end < len(chunk):
                events += self._feed_lines(chunk[end:])
        return events

    def _feed_lines(self, chunk: bytes) -> List[ServerSentEvent]:
        """Decode *chunk* (CRs already made LFs) line by line: the field rules, whatever the input."""
        lines = chunk.split(b"\n")
        rest = lines.pop()  # the unterminated end of the chunk, often empty
        if not lines:
            if rest:
                self._keep_partial_line(rest)
            return []
        partial = self._partial_line
        if partial:
            self._partial_line = b""
            partial += lines[0]  # in place when it is a bytearray
            lines[0] = bytes(partial)
        at_start, self._at_start = self._at_start, False  # from here on, no line is the first
        if rest:
            self._keep_partial_line(rest)
        if at_start and lines[0][:3] == _BOM:
            lines[0] = lines[0][3:]
        if len(chunk) > self.max_event_size or len(lines[0]) > self.max_event_size:
            self._check_line_sizes(lines)
        events = []  # type: List[ServerSentEvent]
        self._apply_lines(lines, events)
        return events

    def close(self) -> List[ServerSentEvent]:
        """Signal end of input. An unterminated event is discarded, as the spec says."""
        self._partial_line = b""
        self._reset_event()
        return []

    def _keep_partial_line(self, piece: bytes) -> None:
        """Add *piece* to the unterminated line, refusing it first if the line would be too long.

        The pieces are copied into one ``bytearray`` (amortised O(1) per byte),
        so the memory held is about the line's length whatever the read size.
        """
        partial = self._partial_line
        size = len(partial) + len(piece)
        if size > self.max_event_size:
            lead = (partial[: len(_BOM)] + piece[: len(_BOM)])[: len(_BOM)]
            # A leading BOM (or what may still become one) is not part of the line.
            if not (self._at_start and _BOM.startswith(lead) and size - len(lead) <= self.max_event_size):
                self._too_large("line")
        if not partial:
            self._partial_line = piece
        elif partial.__class__ is bytes:
            buffer = bytearray(partial)
            buffer += piece
            self._partial_line = buffer
        else:
            partial += piece

    def _check_line_sizes(self, lines: List[bytes]) -> None:
        if max(map(len, lines)) > self.max_event_size:
            self._too_large("line")

    def _too_large(self, what: str) -> None:
        raise EventTooLargeError(
            "SSE %s exceeds the %d-byte limit (raise max_event_size if this stream is trusted)"
            % (what, self.max_event_size),
            limit=self.max_event_size,
        )

    def _reset_event(self) -> None:
        self._event_type = ""
        self._data = None
        self._data_size = 0
        self._data_folded = 0
        self._event_retry = None
        self._field_seen = False

    def _bulk(self, blocks: bytes, eol: bytes = b"\n") -> Optional[List[ServerSentEvent]]:
        """The events of whole *blocks* (no event pending before them) if all have the usual shape, else None.

        LLM streams repeat one shape: ``data: X`` and a blank line, or
        ``event: N``, ``data: X`` and a blank line. Such blocks are cut with
        ``bytes.split`` on the text between the values, a search for a stray
        line end proves that no block holds another line (another field, a
        second data line, a comment), and each value is decoded as strict
        UTF-8 (invalid bytes, which the rules replace, take the slow path):
        the events are exactly those the field rules give. The lines end in
        *eol*: LF, or CRLF for data-only blocks.
        """
        if len(blocks) > self.max_event_size:
            return None  # the rules check the line sizes
        try:
            if blocks[:6] == b"data: ":
                pieces = blocks.split(eol + eol + b"data: ")
                pieces[0] = pieces[0][6:]
                pieces[-1] = pieces[-1][: -2 * len(eol)]  # (the blank line's line ends)
                if not _single_lines(blocks, pieces, 2, eol):
                    return None
                names = repeat("message")  # type: Iterable[str]
                datas = map(bytes.decode, pieces)  # type: Iterable[str]
            elif blocks[:7] == b"event: " and eol == b"\n":
                names, datas = self._named_blocks(blocks)
            else:
                return None
            return _events(names, datas, self.last_event_id)
        except (UnicodeDecodeError, _NotUsual):
            return None

    def _named_blocks(self, blocks: bytes) -> Tuple[Iterable[str], Iterable[str]]:
        """The types and data of whole ``event: N`` + ``data: X`` *blocks* (:class:`_NotUsual` if not all are such).

        A run mostly repeats one type (Anthropic's ``content_block_delta``),
        taken from the middle block: its blocks are cut as data-only ones are,
        and only the few blocks of other types (a stream's start and end, or
        where a content block ends and the next starts) take the line split of
        :meth:`_mixed_blocks`, each run of them with the block before it.
        """
        start = blocks.rfind(b"\nevent: ", 0, len(blocks) // 2) + 1  # the middle block's (0: the first)
        name_line = blocks[start : blocks.index(b"\n", start)]
        name = self._event_name(name_line)
        lead = name_line + b"\ndata: "
        # rsplit, not split: where more than 30,000 bytes remain, CPython 3.10+ splits on a
        # separator this long with a two-way search that it sets up anew for each piece, which
        # costs about twice rsplit's plain search (PyPy's rsplit is faster too).
        values = blocks.rsplit(b"\n\n" + lead)  # each "X", or "X" + LF LF + blocks of other types
        values[-1] = values[-1][:-2]  # (the blank line's LFs)
        head = b""  # the blocks before the first of that type
        if values[0][: len(lead)] == lead:
            values[0] = values[0][len(lead) :]
        else:
            head = values.pop(0) + b"\n\n"
        if not head and _single_lines(blocks, values, 3):
            return repeat(name), map(bytes.decode, values)
        breaks = _pieces_with_lf(values, len(values) // 4)
        if breaks is None:  # (over a quarter: the types alternate, one line split costs less)
            return self._mixed_blocks(blocks)
        names, datas = self._mixed_blocks(head) if head else ([], [])
        done = 0
        for index in breaks:  # that block and the blocks of other types after it: the line split
            more_names, more_datas = self._mixed_blocks(lead + values[index] + b"\n\n")
            names += [name] * (index - done) + more_names
            datas += list(map(bytes.decode, values[done:index])) + more_datas
            done = index + 1
        names += [name] * (len(values) - done)
        datas += map(bytes.decode, values[done:])
        return names, datas

    def _mixed_blocks(self, blocks: bytes) -> Tuple[List[str], List[str]]:
        """The types and data of whole ``event: N`` + ``data: X`` *blocks* of any types (:class:`_NotUsual` if not all are such)."""
        lines = blocks.split(b"\n")  # name, data, blank, ..., and the b"" after the last LF
        if len(lines) % 3 != 1 or any(lines[2::3]):
            raise _NotUsual
        return self._event_names(lines[0:-1:3]), _values(lines[1::3], b"data: ")

    def _event_names(self, lines: List[bytes]) -> List[str]:
        """The event types *lines* (each must be ``event: x``) set; the first 256 distinct ones are remembered."""
        if lines.count(lines[0]) == len(lines):  # one type throughout: compared, not hashed
            return [self._event_name(lines[0])] * len(lines)
        known = self._names
        try:
            return list(map(known.__getitem__, lines))
        except KeyError:
            return [known.get(line) or self._event_name(line) for line in lines]

    def _event_name(self, line: bytes) -> str:
        """The event type an ``event: x`` line sets (remembered for the next ones)."""
        if line[:7] != b"event: ":
            raise _NotUsual
        name = line[7:].decode() or "message"
        if len(self._names) < _MAX_EVENT_NAMES:
            self._names[line] = name
        return name

    def _apply_lines(self, lines: List[bytes], events: List[ServerSentEvent]) -> None:
        """Apply the field rules to complete *lines*, appending the events they finish.

        The state lives in locals during the loop and is stored back at the
        end. The first data line of an event needs no size check: the line
        limit, checked on the bytes, already bounds it. Every run of
        ``_FOLD_LINES`` data lines is joined into one string (each line is
        copied once more, so it stays linear): a list of tiny strings would
        hold ~60 bytes per line where the limit counts one or two.
        """
        append = events.append
        data = self._data
        size = self._data_size
        folded = self._data_folded
        event_type = self._event_type
        last_id = self.last_event_id
        retry = self._event_retry
        seen = self._field_seen
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if not line:
                if data is not None:
                    if data.__class__ is not str:
                        data = "\n".join(data)
                    append(_new_event(ServerSentEvent, (event_type or "message", data, last_id, retry)))
                    data = None
                    folded = 0
                if seen:
                    event_type = ""
                    retry = None
                    seen = False
                continue
            if line[:6] == "data: ":
                value = line[6:]
            else:
                colon = line.find(":")
                if colon == 0:
                    continue  # a comment
                if colon < 0:
                    name, value = line, ""
                else:
                    name, value = line[:colon], line[colon + 1 :]
                    if value[:1] == " ":
                        value = value[1:]
                if name != "data":
                    seen = True
                    if name == "event":
                        event_type = value
                    elif name == "id":
                        if "\0" not in value:
                            last_id = value
                    elif name == "retry":
                        if value.isdigit() and value.isascii():
                            self.retry = retry = _retry_value(value)
                    continue
            seen = True
            if data is None:
                data = value
            else:
                if isinstance(data, str):
                    data = [data]
                    size = len(data[0]) + 1
                data.append(value)
                size += len(value) + 1
                if size > self.max_event_size:
                    self._too_large("event")
                if len(data) - folded > _FOLD_LINES:
                    data[folded:] = ["\n".join(data[folded:])]
                    folded += 1
        self._data = data
        self._data_size = size
        self._data_folded = folded
        self._event_type = event_type
        self.last_event_id = last_id
        self._event_retry = retry
        self._field_seen = seen


def iter_sse(
    chunks: Iterable[bytes], *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
) -> Iterator[ServerSentEvent]:
    """Decode an iterable of byte chunks (any chunking) into events, lazily."""
    decoder = SSEDecoder(max_event_size)
    for chunk in chunks:
        events = decoder.feed(chunk)
        if events:
            yield from events
    decoder.close()


def iter_sse_lines(
    lines: Iterable[Union[bytes, str]], *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
) -> Iterator[ServerSentEvent]:
    """Decode lines that were already split, e.g. ``response.iter_lines()`` output.

    Each item is one line without its terminator. Caveat: ``requests``'
    ``iter_lines`` can split a CRLF that straddles two network reads into two
    line ends, inventing an empty line that dispatches an event early; prefer
    :func:`iter_sse` over ``iter_content`` or :func:`ssekit.connect_sse`.
    """
    decoder = SSEDecoder(max_event_size)
    for line in lines:
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogatepass")  # a lone surrogate decodes to U+FFFD
        events = decoder.feed(line + b"\n")
        if events:
            yield from events
    decoder.close()
