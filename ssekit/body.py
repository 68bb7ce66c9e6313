"""Reading a streaming response body promptly: one socket read at a time, whatever the framing.

``iter_content(chunk_size=N)`` can wait for N bytes, and urllib3 hands over
one HTTP chunk per call through several layers. :class:`BodyReader` reads
what has arrived and, for chunked bodies (plain or gzip), undoes the chunked
coding and the compression itself with ``bytes`` operations and ``zlib``;
other bodies go through urllib3's ``read1``. It also bounds each read by the
stream's deadline and can be interrupted from another thread.
"""
import http.client
import socket
import time
import zlib
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Tuple, Type

import requests
import urllib3

from ._cassette import Recorder, read_chunks
from .errors import IncompleteStreamError, StreamTimeoutError

if TYPE_CHECKING:  # pragma: no cover - imports for type checkers only
    from .completion import Completion

__all__ = ["BodyReader"]


#: What a stream's reader asks when it fails: the answer rebuilt so far, and whether output
#: already reached the caller (then the failure is never retried).
Progress = Callable[[], Tuple["Completion", bool]]

#: What a broken or cut connection raises while the body is read.
BROKEN_STREAM_ERRORS = (
    http.client.HTTPException,
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    OSError,
)
_TIMEOUT_ERRORS = (socket.timeout, urllib3.exceptions.ReadTimeoutError)
_READ_SIZE = 64 * 1024
_MAX_CHUNK_SIZE_LINE = 1024  # longest chunk-size line (with extensions) accepted
_MAX_TRAILER = 64 * 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib's window bits for the gzip container


def _unread_chunked(raw: Any) -> bool:
    """True for a chunked body of which http.client has read nothing yet."""
    response = getattr(raw, "_fp", None)
    return (
        isinstance(response, http.client.HTTPResponse)
        and bool(response.chunked)
        and response.chunk_left is None
        and response.fp is not None
    )


def _gunzip(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Inflate a gzip body as it arrives, at most ``_READ_SIZE`` bytes per step.

    The bound keeps a gzip bomb from inflating in one go: the decoder sees
    each step and stops at its size limit. Further gzip members are inflated
    too; anything else after the first member is ignored, as urllib3 does.
    """
    inflater = zlib.decompressobj(_GZIP_WBITS)  # type: Optional[Any]
    tail = b""  # bytes after a finished member, until two show whether another member follows
    for piece in pieces:  # read to the end even after trailing garbage: the connection is reused
        while piece and inflater is not None:
            if inflater.eof:
                piece, tail = tail + piece, b""
                if len(piece) < 2:
                    tail = piece
                    break
                if piece[:2] != b"\x1f\x8b":
                    inflater = None
                    break
                inflater = zlib.decompressobj(_GZIP_WBITS)
            try:
                data = inflater.decompress(piece, _READ_SIZE)
            except zlib.error as exc:
                raise urllib3.exceptions.DecodeError("invalid gzip data: %s" % exc) from None
            piece = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            if data:
                yield data


def failure(cls: Type[IncompleteStreamError], message: str, progress: Optional[Progress]) -> IncompleteStreamError:
    """A broken or timed-out read as *cls*, complete: ``.partial`` and what the caller can do, from *progress*."""
    if progress is None:
        return cls(message)
    partial, committed = progress()
    return cls(
        "%s; %s%d characters of text received so far are in .partial: send the request again for the whole answer"
        % (message, "not retried because output had reached the caller; " if committed else "", len(partial.text)),
        partial=partial,
    )


def shutdown(sock: socket.socket) -> None:
    """Shut *sock* down for both directions, waking any thread blocked on it (TLS sockets too); never raises."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # not SSLSocket.shutdown, which unwraps first
    except OSError:
        pass


def _socket_of(response: requests.Response) -> Optional[socket.socket]:
    """The socket under a streaming response (to interrupt a blocked read), if found."""
    raw = response.raw
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        buffered = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(buffered, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class BodyReader:
    """Iterate the decoded body of one streaming response as it arrives (single use).

    ``deadline`` is a ``time.monotonic()`` instant after which reading fails
    with :class:`StreamTimeoutError`; a silence longer than the read timeout
    fails the same way. Connection faults raise :class:`IncompleteStreamError`.
    """

    def __init__(
        self, response: requests.Response, *, deadline: Optional[float] = None, progress: Optional[Progress] = None
    ) -> None:
        self.raw = response.raw
        self.deadline = deadline
        self._progress = progress
        self._socket = _socket_of(response)
        self._read_timeout = self._socket.gettimeout() if self._socket is not None else None
        self._chunks = None  # type: Optional[Iterator[bytes]]
        encoding = self.raw.headers.get("Content-Encoding", "identity").strip().lower()
        self._dechunking = _unread_chunked(self.raw) and encoding in ("identity", "gzip", "x-gzip")
        self._encoding = encoding
        #: A cassette recorder shown every piece as it is read (set before reading starts), or None.
        self.tap = None  # type: Optional[Recorder]

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()

    def chunks(self) -> Iterator[bytes]:
        """The decoded body as it arrives (one iterator per reader: :meth:`drain` continues it)."""
        if self._chunks is None:
            self._chunks = self._read() if self.tap is None else read_chunks(self._read(), self.tap)
        return self._chunks

    def _read(self) -> Iterator[bytes]:
        raw = self.raw
        try:
            if self._dechunking:
                body = self._dechunked(raw)
                yield from (body if self._encoding == "identity" else _gunzip(body))
            elif callable(getattr(raw, "read1", None)):
                yield from self._read1_chunks(raw)
            else:
                yield from self._http_client_chunks(raw)
        except _TIMEOUT_ERRORS as exc:
            raise self._timeout_error() from exc
        except BROKEN_STREAM_ERRORS as exc:
            if self._expired():  # the deadline's interrupt shut the socket down
                raise self._timeout_error() from exc
            raise failure(
                IncompleteStreamError, "the connection broke mid-stream (%s)" % type(exc).__name__, self._progress
            ) from exc
        if self._expired():  # the socket was shut down at the deadline: not a proper end
            raise self._timeout_error()

    def drain(self, grace: float, limit: int) -> bool:
        """Read the rest of the body for at most *grace* seconds and *limit* bytes; True if it ended.

        Used after the format's end marker, so that the connection of a
        well-behaved server is reused while one that stays open is let go.
        Only where each read can be bounded (a socket found, no decoder of
        urllib3's that loops internally); never raises.
        """
        if self._socket is None or not (self._dechunking or self._encoding == "identity"):
            return False
        end = time.monotonic() + grace
        self.deadline = end if self.deadline is None else min(self.deadline, end)
        self._progress = None
        seen = 0
        try:
            for data in self.chunks():
                seen += len(data)
                if seen > limit:
                    return False
        except Exception:  # a stall, a cut or garbage after the end: the answer is complete anyway
            return False
        return True

    def _expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline - 0.001

    def _dechunked(self, raw: Any) -> Iterator[bytes]:
        """Chunked bodies: read the socket's buffered file, undo the chunking with bytes operations.

        http.client returns one HTTP chunk per ``read1`` call, through several
        layers of urllib3; servers that write one chunk per event (most LLM
        APIs) then cost twice the decoding itself per event. Here each read
        returns whatever has arrived, however many chunks it holds. At the last
        chunk the trailer is read and the connection goes back to the pool.
        (gzip is inflated by :func:`_gunzip`; other encodings keep urllib3's read1.)
        """
        fp = raw._fp.fp
        buffer = b""
        left = 0  # bytes of chunk data still to come
        crlf = 0  # bytes of the CRLF that ends the chunk data still to skip
        while True:
            self._arm_deadline()
            data = fp.read1(_READ_SIZE)
            if not data:
                raise http.client.IncompleteRead(b"")
            buffer += data
            end = len(buffer)
            pos = 0
            pieces = []
            last = False
            broken = None  # a framing error, raised once the data before it is handed over
            while pos < end:
                if left:
                    take = min(left, end - pos)
                    pieces.append(buffer[pos : pos + take])
                    pos += take
                    left -= take
                    if left:
                        break
                    crlf = 2
                if crlf:
                    take = min(crlf, end - pos)
                    pos += take
                    crlf -= take
                    if crlf:
                        break
                line_end = buffer.find(b"\r\n", pos, pos + _MAX_CHUNK_SIZE_LINE)
                if line_end < 0:
                    if end - pos >= _MAX_CHUNK_SIZE_LINE:
                        broken = "chunk size line too long"
                    break
                try:
                    left = int(buffer[pos:line_end].split(b";", 1)[0], 16)
                    if left < 0:
                        raise ValueError(left)
                except ValueError:
                    broken = "invalid chunk size line %r" % buffer[pos:line_end][:40]
                    break
                pos = line_end + 2
                if not left:
                    last = True
                    break
            buffer = buffer[pos:]
            if pieces:
                yield pieces[0] if len(pieces) == 1 else b"".join(pieces)
            if broken:
                raise urllib3.exceptions.ProtocolError(broken)
            if last:
                self._end_of_chunked(raw, buffer)
                return

    def _end_of_chunked(self, raw: Any, buffer: bytes) -> None:
        """Skip the trailer after the last chunk and give the connection back to the pool."""
        response = raw._fp
        while not (buffer == b"\r\n" or buffer.endswith(b"\r\n\r\n")):
            if len(buffer) > _MAX_TRAILER:
                raise urllib3.exceptions.ProtocolError("trailer too long")
            self._arm_deadline()
            line = response.fp.readline(_MAX_CHUNK_SIZE_LINE)
            if not line:
                raise http.client.IncompleteRead(b"")
            buffer += line
        response._close_conn()
        raw.release_conn()

    def _read1_chunks(self, raw: Any) -> Iterator[bytes]:
        """urllib3 >= 2.1: ``read1`` returns the decoded bytes of one socket read."""
        while True:
            self._arm_deadline()
            data = raw.read1(_READ_SIZE, decode_content=True)
            if not data:
                return
            yield data

    def _http_client_chunks(self, raw: Any) -> Iterator[bytes]:
        """Older urllib3: read1 from the http.client response, decode with urllib3's decoder."""
        fp = raw._fp
        raw._init_decoder()
        while True:
            self._arm_deadline()
            data = fp.read1(_READ_SIZE)
            decoded = raw._decode(data, True, not data)
            if decoded:
                yield decoded
            if not data:
                if getattr(fp, "length", None):  # the body ended short of its Content-Length
                    raise http.client.IncompleteRead(b"", fp.length)
                if fp.isclosed():
                    raw.release_conn()  # fully read: the connection may be reused
                return

    def _arm_deadline(self) -> None:
        """Bound the next socket read by the silence timeout and the remaining deadline."""
        if self.deadline is None or self._socket is None:
            return
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the deadline passed")
        if self._read_timeout is not None:
            remaining = min(remaining, self._read_timeout)
        self._socket.settimeout(remaining)

    def _timeout_error(self) -> IncompleteStreamError:
        if self._expired():
            return failure(StreamTimeoutError, "the stream's deadline passed before it ended", self._progress)
        return failure(
            StreamTimeoutError, "no data for %s s (read timeout): the server stalled" % (self._read_timeout,), self._progress
        )

    def interrupt(self) -> None:
        """Unblock a read in progress from another thread (the read then sees end of stream)."""
        if self._socket is not None:
            shutdown(self._socket)
