"""HTTP glue over requests: open an event stream, map HTTP failures, read bytes promptly.

``connect_sse`` is the low-level entry point, in the spirit of httpx-sse: a
context manager yielding an :class:`EventSource` whose ``iter_sse()`` hands
over each event the moment its blank line arrives, whatever the framing
(chunked, Content-Length, close-delimited, gzip).
"""
import contextlib
import http.client
import json
import re
import socket
import time
import zlib
from typing import Any, Iterator, Optional
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from .errors import (
    APIStatusError,
    ContentTypeError,
    IncompleteStreamError,
    InvalidRequestError,
    StreamConnectionError,
    StreamTimeoutError,
    redact_url,
)
from .sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, SSEDecoder

EVENT_STREAM = "text/event-stream"
#: Most bytes of an error or non-SSE body read into memory for messages.
MAX_ERROR_BODY = 64 * 1024
_READ_SIZE = 64 * 1024
_MAX_CHUNK_SIZE_LINE = 1024  # longest chunk-size line (with extensions) accepted
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib's window bits for the gzip container
_TIMEOUT_ERRORS = (socket.timeout, urllib3.exceptions.ReadTimeoutError)
_BROKEN_STREAM_ERRORS = (
    http.client.HTTPException,
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    OSError,
)


def open_response(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """Send the request with ``stream=True`` and return the 2xx response head.

    Adds ``Accept: text/event-stream`` unless the caller set an Accept header.
    Raises :class:`APIStatusError` for non-2xx (the response is closed),
    :class:`StreamTimeoutError` / :class:`StreamConnectionError` when the
    server cannot be reached in time, :class:`InvalidRequestError` (never
    retried) for a malformed URL or header.
    """
    headers = dict(kwargs.pop("headers", None) or {})
    if not any(name.lower() == "accept" for name in headers):
        headers["Accept"] = EVENT_STREAM
    headers.setdefault("Cache-Control", "no-cache")
    kwargs["stream"] = True
    hooks = dict(kwargs.pop("hooks", None) or {})
    response_hooks = hooks.get("response") or []
    hooks["response"] = ([response_hooks] if callable(response_hooks) else list(response_hooks)) + [_keep_keys_home]
    kwargs["hooks"] = hooks
    where = "%s %s" % (method.upper(), redact_url(url))
    try:
        response = session.request(method, url, headers=headers, **kwargs)
    except requests.Timeout as exc:
        raise StreamTimeoutError(
            "timed out connecting to %s (%s)" % (where, type(exc).__name__)
        ) from None
    except requests.RequestException as exc:
        if isinstance(exc, ValueError):  # MissingSchema, InvalidURL, InvalidHeader...
            raise InvalidRequestError(
                "cannot send %s: %s" % (where, type(exc).__name__)
            ) from None
        raise StreamConnectionError(
            "could not connect to %s: %s" % (where, short_reason(exc))
        ) from None
    if not 200 <= response.status_code < 300:
        with contextlib.closing(response):
            raise status_error(response, where)
    return response


#: Request headers that carry API keys besides Authorization (which requests itself strips).
KEY_HEADERS = ("x-api-key", "api-key", "x-goog-api-key")


def _keep_keys_home(response: requests.Response, **kwargs: Any) -> None:
    """Response hook: on a redirect to another host, drop the :data:`KEY_HEADERS` as requests drops Authorization."""
    if response.is_redirect:
        target = urljoin(response.url, response.headers.get("Location", ""))
        if urlsplit(target).hostname != urlsplit(response.url).hostname:
            for name in KEY_HEADERS:
                response.request.headers.pop(name, None)


def close_session(session: requests.Session) -> None:
    """Close *session* and the idle connections in its pools.

    ``Session.close()`` alone leaves them open under urllib3 2 (its
    ``PoolManager.clear()`` no longer closes the pools, psf/requests#6573):
    their sockets would wait for the garbage collector.
    """
    for adapter in session.adapters.values():
        pools = getattr(getattr(adapter, "poolmanager", None), "pools", None)
        if pools is not None:
            for key in list(pools.keys()):
                pool = pools.get(key)
                if pool is not None:
                    pool.close()
    session.close()


def short_reason(exc: BaseException) -> str:
    """A short cause such as ``[Errno 111] Connection refused``.

    requests' own messages quote the full URL (query string included, where
    some APIs carry keys), so they are never repeated or chained.
    """
    match = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
    return match.group(0) if match else type(exc).__name__


def read_body(response: requests.Response, limit: int = MAX_ERROR_BODY) -> bytes:
    """Read at most *limit* bytes of a (small, finite) body, decoded from gzip etc."""
    try:
        return response.raw.read(limit, decode_content=True) or b""
    except _BROKEN_STREAM_ERRORS:
        return b""


def parse_body(response: requests.Response, data: bytes) -> Any:
    """The body as JSON when it parses as JSON, else as text."""
    text = data.decode(response.encoding or "utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def error_message(body: Any) -> Optional[str]:
    """The human message from the usual error shapes (OpenAI, Anthropic, FastAPI, HTML)."""
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "error_message"):
            value = body.get(key)
            if isinstance(value, dict):
                found = error_message(value)
                if found:
                    return found
            elif isinstance(value, str) and value:
                return value
            elif isinstance(value, list) and value:
                return "; ".join(error_message(item) or str(item) for item in value)
        return None
    if isinstance(body, str) and body.strip():
        title = re.search(r"<title[^>]*>(.*?)</title>", body, re.I | re.S)
        text = title.group(1) if title else re.sub(r"<[^>]+>", " ", body)
        return " ".join(text.split())[:200] or None
    return None


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` value (seconds or HTTP date), or None."""
    if not value:
        return None
    try:
        return float(Retry().parse_retry_after(value))
    except InvalidHeader:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None


def status_error(response: requests.Response, where: str) -> APIStatusError:
    """Build the :class:`APIStatusError` for a non-2xx response (reads a bounded body)."""
    body = parse_body(response, read_body(response))
    detail = error_message(body)
    message = "HTTP %d %s from %s" % (response.status_code, response.reason or "", where)
    if detail:
        message += ": " + detail
    return APIStatusError(
        message,
        status_code=response.status_code,
        body=body,
        headers=response.headers,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def is_event_stream(response: requests.Response) -> bool:
    """True when the response declares ``Content-Type: text/event-stream``."""
    content_type = response.headers.get("Content-Type", "")
    return content_type.split(";", 1)[0].strip().lower() == EVENT_STREAM


def content_type_error(
    response: requests.Response, expected: str = EVENT_STREAM, body: Optional[bytes] = None
) -> ContentTypeError:
    """Build the error for a 2xx body of the wrong kind, quoting what came back (*body* if already read)."""
    content_type = response.headers.get("Content-Type") or "no Content-Type"
    if body is None:
        body = read_body(response, 2048)
    preview = " ".join(body[:2048].decode("utf-8", "replace").split())[:200]
    return ContentTypeError(
        "expected %s but the server answered %d with %s: %r"
        % (expected, response.status_code, content_type, preview),
        content_type=content_type,
        body_preview=preview,
    )


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


def _socket_of(response: requests.Response) -> Optional[socket.socket]:
    """The socket under a streaming response (to interrupt a blocked read), if found."""
    raw = response.raw
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        buffered = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(buffered, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class EventSource:
    """Events of one streaming response. Single use; ``close()`` releases the connection.

    ``deadline`` is a ``time.monotonic()`` instant after which reading fails
    with :class:`StreamTimeoutError`. ``decoder`` exposes ``last_event_id``
    and ``retry`` for reconnecting clients.
    """

    def __init__(
        self,
        response: requests.Response,
        *,
        deadline: Optional[float] = None,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        self.response = response
        self.deadline = deadline
        self.decoder = SSEDecoder(max_event_size)
        self._socket = _socket_of(response)
        self._read_timeout = self._socket.gettimeout() if self._socket is not None else None

    def iter_sse(self) -> Iterator[ServerSentEvent]:
        """Yield events as they complete; the connection is released when this ends."""
        feed = self.decoder.feed
        try:
            for chunk in self.iter_bytes():
                events = feed(chunk)
                if events:
                    yield from events
        finally:
            self.close()

    def iter_bytes(self) -> Iterator[bytes]:
        """Yield the decoded body as it arrives: each read returns what is there now."""
        raw = self.response.raw
        try:
            encoding = raw.headers.get("Content-Encoding", "identity").strip().lower()
            if _unread_chunked(raw) and encoding in ("identity", "gzip", "x-gzip"):
                body = self._dechunked(raw)
                yield from (body if encoding == "identity" else _gunzip(body))
            elif callable(getattr(raw, "read1", None)):
                yield from self._read1_chunks(raw)
            else:
                yield from self._http_client_chunks(raw)
        except _TIMEOUT_ERRORS as exc:
            raise self._timeout_error() from exc
        except _BROKEN_STREAM_ERRORS as exc:
            raise IncompleteStreamError(
                "the connection broke mid-stream (%s)" % type(exc).__name__
            ) from exc

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
            if len(buffer) > MAX_ERROR_BODY:
                raise urllib3.exceptions.ProtocolError("trailer too long")
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
            raise self._timeout_error()
        if self._read_timeout is not None:
            remaining = min(remaining, self._read_timeout)
        self._socket.settimeout(remaining)

    def _timeout_error(self) -> StreamTimeoutError:
        if self.deadline is not None and time.monotonic() >= self.deadline - 0.001:
            return StreamTimeoutError("the stream's deadline passed before it ended")
        return StreamTimeoutError(
            "no data for %s s (read timeout): the server stalled" % (self._read_timeout,)
        )

    def interrupt(self) -> None:
        """Unblock a read in progress from another thread (the read then sees end of stream)."""
        if self._socket is not None:
            try:
                socket.socket.shutdown(self._socket, socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Release the connection without reading the rest of the stream."""
        self.response.close()

    def __enter__(self) -> "EventSource":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


@contextlib.contextmanager
def connect_sse(
    session: requests.Session, method: str, url: str, **kwargs: Any
) -> Iterator[EventSource]:
    """Open an event stream: ``with connect_sse(s, "GET", url) as source: ...``.

    *kwargs* go to ``session.request`` (``json=``, ``headers=``, ``timeout=``...).
    Non-2xx raises :class:`APIStatusError`; a 2xx that is not
    ``text/event-stream`` raises :class:`ContentTypeError`. Leaving the block
    closes the response.
    """
    max_event_size = kwargs.pop("max_event_size", DEFAULT_MAX_EVENT_SIZE)
    response = open_response(session, method, url, **kwargs)
    with EventSource(response, max_event_size=max_event_size) as source:
        if not is_event_stream(response):
            raise content_type_error(response)
        yield source
