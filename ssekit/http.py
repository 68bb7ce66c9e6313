"""HTTP glue over requests: open an event stream, classify the answer, map HTTP failures to exceptions.

``connect_sse`` is the low-level entry point, in the spirit of httpx-sse: a
context manager yielding an :class:`EventSource` whose ``iter_sse()`` hands
over each event the moment its blank line arrives, whatever the framing
(chunked, Content-Length, close-delimited, gzip: see :mod:`ssekit.body`).
:func:`open_stream` is the one place that sends a request and decides what
came back: an event stream, a whole non-streamed result, or an error built
complete (message, ``.partial``, secrets redacted) where it is raised.

:class:`Interrupter` makes every wait of a request breakable: connections
opened while it is active register their socket with it, so that a cancel
or a deadline shuts the socket down whether the request is connecting,
waiting for the response head or reading the body.
"""
import codecs
import contextlib
import json
import math
import re
import socket
import ssl
import sys
import threading
import time
from typing import Any, Iterator, List, Mapping, Optional, Set, Union, cast
from urllib.parse import quote, urljoin, urlsplit

import requests
from requests.sessions import SessionRedirectMixin
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, InvalidHeader, NewConnectionError
from urllib3.util import connection as urllib3_connection
from urllib3.util.retry import Retry

from ._cassette import Recorder, record_answer
from ._text import CREDENTIAL_HEADERS, Secrets, printable, redact_url
from .body import BROKEN_STREAM_ERRORS, BodyReader, Progress, shutdown
from .completion import Completion
from .errors import (
    APIStatusError,
    ContentTypeError,
    EventTooLargeError,
    InvalidRequestError,
    StreamConnectionError,
    StreamTimeoutError,
    UnsupportedFormatError,
    status_error_class,
)
from .formats import KEY_HEADER_NAMES, completion_from_result
from .sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, SSEDecoder

__all__ = ["EventSource", "connect_sse"]


EVENT_STREAM = "text/event-stream"
#: Most bytes of an error or non-SSE body read into memory for messages.
MAX_ERROR_BODY = 64 * 1024
#: Response headers whose value becomes ``Completion.id`` when the body carries no id.
ID_HEADERS = ("x-request-id", "x-generation-id")
#: After the format's end marker: how long the rest of the body may take to arrive (seconds)
#: and how many bytes of it are read, so the connection can be reused; past either it is closed.
END_GRACE = 0.2
MAX_AFTER_END = 64 * 1024
#: The keyword arguments of ``requests.Session.request`` ssekit passes through.
REQUEST_OPTIONS = frozenset(
    ["params", "data", "cookies", "files", "auth", "allow_redirects", "proxies", "hooks", "verify", "cert", "stream"]
)
_SENDABLE_HEADER = re.compile(r"^\S[^\r\n]*\Z|^\Z")  # requests' own rule for a header value
_JSON_MAX_DEPTH_ERRORS = (ValueError, RecursionError)


# --- checking a request before it is sent -------------------------------------


def request_secrets(session: requests.Session, url: str, headers: Optional[Mapping[str, Any]], auth: Any = None) -> Secrets:
    """Every secret a request on *session* carries: its own and the session's key headers, the URL, ``auth``."""
    return Secrets.of_request(
        session.headers, headers, url=url, auth=auth if auth is not None else session.auth, key_headers=KEY_HEADERS
    )


def check_url(url: Any) -> None:
    """Refuse a URL requests could never send (no http(s) scheme or host, a bad port) with :class:`InvalidRequestError`."""
    if not isinstance(url, str):
        raise InvalidRequestError("url must be a str, not %s" % type(url).__name__)
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise InvalidRequestError("cannot send to %s: %s" % (redact_url(url), printable(str(exc), 100))) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError("cannot send to %s: the URL needs http:// or https:// and a host" % redact_url(url))


def check_headers(headers: Optional[Mapping[Any, Any]], what: str = "header") -> None:
    """Refuse headers http.client cannot send (non-Latin-1, CR/LF, leading space) with :class:`InvalidRequestError`.

    The message names the header but never shows its value: it may be a key.
    """
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, (str, bytes)):
            raise InvalidRequestError(
                "%s %s cannot be sent: names and values must be str" % (what, printable(repr(name), 60))
            )
        try:
            name.encode("ascii")
            text = value if isinstance(value, str) else value.decode("latin-1")
            text.encode("latin-1")
        except UnicodeError:
            raise InvalidRequestError(
                "%s %s cannot be sent: it holds a character outside Latin-1 (the value is not shown)"
                % (what, printable(repr(name), 60))
            ) from None
        if not _SENDABLE_HEADER.match(text) or not name or not name.isprintable():
            raise InvalidRequestError(
                "%s %s cannot be sent: a line break or leading space in it (the value is not shown)"
                % (what, printable(repr(name), 60))
            )


def check_json(body: Any) -> None:
    """Refuse a ``json=`` body that is not strict JSON (NaN, Infinity, sets, objects) with :class:`InvalidRequestError`."""
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidRequestError("json= cannot be sent as JSON: %s" % printable(str(exc), 120)) from None


def sendable_event_id(last_event_id: str) -> str:
    """*last_event_id* as a ``Last-Event-ID`` value: unchanged when sendable, else percent-encoded UTF-8.

    An id with characters beyond Latin-1, control characters or leading or
    trailing whitespace cannot be sent as a header; it is sent percent-encoded
    (``id: 日本-1`` goes out as ``%E6%97%A5%E6%9C%AC-1``) rather than dropped.
    """
    try:
        last_event_id.encode("latin-1")
        if _SENDABLE_HEADER.match(last_event_id) and last_event_id == last_event_id.strip() and last_event_id.isprintable():
            return last_event_id
    except UnicodeError:
        pass
    return quote(last_event_id, safe="!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")


# --- interrupting a request -----------------------------------------------------

_ACTIVE = threading.local()  # .interrupter: the Interrupter of the request this thread is sending


class Interrupter:
    """The sockets of one stream's requests, so that a cancel or a deadline can break any wait on them.

    While :meth:`active` is in force in a thread, every connection that
    thread opens or reuses through a session prepared by :func:`guard_session`
    registers its socket here. :meth:`interrupt` shuts them down (and any
    registered later), which wakes a blocked connect, TLS handshake, send or
    receive at once; :attr:`reason` then says why.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets = set()  # type: Set[socket.socket]
        #: Why the stream was interrupted ("cancel", "deadline"), None while it was not.
        self.reason = None  # type: Optional[str]

    def __repr__(self) -> str:
        return "<Interrupter %s, %d socket(s)>" % (self.reason or "armed", len(self._sockets))

    @contextlib.contextmanager
    def active(self) -> Iterator["Interrupter"]:
        """Register the sockets of the connections this thread uses within the block."""
        previous = getattr(_ACTIVE, "interrupter", None)
        _ACTIVE.interrupter = self
        try:
            yield self
        finally:
            _ACTIVE.interrupter = previous

    def track(self, sock: socket.socket) -> None:
        """Register *sock*; shut it down at once if the stream was already interrupted."""
        with self._lock:
            self._sockets.add(sock)
            interrupted = self.reason is not None
        if interrupted:
            shutdown(sock)

    def forget(self) -> None:
        """Drop every registered socket (the attempt is over; its connection may serve others now)."""
        with self._lock:
            self._sockets.clear()

    def interrupt(self, reason: str) -> None:
        """Shut down every registered socket, from any thread; the first *reason* given sticks."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            sockets = list(self._sockets)
        for sock in sockets:
            shutdown(sock)


def _active_interrupter() -> Optional[Interrupter]:
    return getattr(_ACTIVE, "interrupter", None)


def _connect_socket(conn: HTTPConnection, interrupter: Interrupter) -> socket.socket:
    """urllib3's ``create_connection``, but the socket is registered before ``connect()`` blocks on it."""
    host = conn._dns_host.strip("[]")
    error = None  # type: Optional[OSError]
    family = urllib3_connection.allowed_gai_family()
    for af, socktype, proto, _, address in socket.getaddrinfo(host, conn.port, family, socket.SOCK_STREAM):
        sock = socket.socket(af, socktype, proto)
        try:
            interrupter.track(sock)
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            if conn.timeout is None or isinstance(conn.timeout, (int, float)):
                sock.settimeout(conn.timeout)
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error if error is not None else OSError("getaddrinfo returned no address for %s" % host)


class _TrackedConnection(HTTPConnection):
    """An urllib3 connection that registers its socket with the thread's :class:`Interrupter`."""

    def _new_conn(self) -> socket.socket:
        interrupter = _active_interrupter()
        if interrupter is None:
            return super()._new_conn()
        try:
            sock = _connect_socket(self, interrupter)
        except socket.timeout as exc:
            raise ConnectTimeoutError(
                self, "Connection to %s timed out. (connect timeout=%s)" % (self.host, self.timeout)
            ) from exc
        except OSError as exc:
            raise NewConnectionError(self, "Failed to establish a new connection: %s" % exc) from exc
        if hasattr(sys, "audit"):
            sys.audit("http.client.connect", self, self.host, self.port)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> Any:
        interrupter = _active_interrupter()
        if interrupter is not None and isinstance(self.sock, socket.socket):  # a reused connection
            interrupter.track(self.sock)
        return super().request(*args, **kwargs)


class _TrackedHTTPSConnection(_TrackedConnection, HTTPSConnection):
    """The HTTPS twin of :class:`_TrackedConnection`."""


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


_STANDARD = {HTTPConnectionPool: _TrackedHTTPPool, HTTPSConnectionPool: _TrackedHTTPSPool}
_STANDARD_CONNECTIONS = {HTTPConnection: _TrackedConnection, HTTPSConnection: _TrackedHTTPSConnection}


def guard_session(session: requests.Session, url: str) -> None:
    """Let an :class:`Interrupter` reach the sockets *session* opens for *url*.

    The adapter's pool manager makes its new pools with tracking connection
    classes, and its existing pools open tracking connections from now on.
    Nothing changes for requests sent without an active Interrupter; custom
    pool or connection classes are left alone.
    """
    try:
        manager = getattr(session.get_adapter(url), "poolmanager", None)
    except requests.RequestException:
        return
    classes = getattr(manager, "pool_classes_by_scheme", None)
    if not isinstance(classes, dict) or classes.get("http") is _TrackedHTTPPool:
        return
    manager.pool_classes_by_scheme = {  # type: ignore[union-attr]
        scheme: _STANDARD.get(cls, cls) for scheme, cls in classes.items()
    }
    for key in list(manager.pools.keys()):  # type: ignore[union-attr]
        pool = manager.pools.get(key)  # type: ignore[union-attr]
        tracked = _STANDARD_CONNECTIONS.get(getattr(pool, "ConnectionCls", None))  # type: ignore[arg-type]
        if tracked is not None:
            pool.ConnectionCls = tracked


# --- sending --------------------------------------------------------------------


def _expired(deadline: Optional[float]) -> bool:
    return deadline is not None and time.monotonic() >= deadline - 0.001


def tls_reason(exc: BaseException) -> Optional[str]:
    """Why a TLS handshake failed (``certificate verify failed: self-signed certificate``), from the error chain."""
    seen = []  # type: List[BaseException]
    stack = [exc]  # type: List[Any]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or any(item is other for other in seen):
            continue
        seen.append(item)
        if isinstance(item, ssl.SSLError) or isinstance(item, getattr(ssl, "CertificateError", ())):
            detail = getattr(item, "verify_message", None) or ""
            reason = getattr(item, "reason", None) or ""
            text = str(item)
            if "verify failed" in text or detail:
                return printable("certificate verify failed: %s" % (detail or text.split("verify failed")[-1].strip(": ")), 200)
            if "match" in text.lower():
                return printable("hostname mismatch: %s" % text, 200)
            return printable("TLS error %s" % (reason or text), 200)
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None)] + list(item.args))
    return None


def short_reason(exc: BaseException) -> str:
    """A short cause such as ``[Errno 111] Connection refused`` or why TLS failed.

    requests' own messages quote the full URL (query string included, where
    some APIs carry keys), so they are never repeated or chained.
    """
    if isinstance(exc, requests.exceptions.SSLError):
        found = tls_reason(exc)
        if found:
            return "TLS failed: " + found
    match = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
    return match.group(0) if match else type(exc).__name__


def _send(
    session: requests.Session,
    method: str,
    url: str,
    where: str,
    deadline: Optional[float],
    interrupter: Optional[Interrupter],
    partial: Optional[Completion],
    kwargs: Any,
) -> requests.Response:
    """``session.request`` with every failure mapped to an ssekit exception (the URL's query never quoted)."""
    try:
        if interrupter is None:
            return session.request(method, url, **kwargs)
        guard_session(session, url)
        with interrupter.active():
            return session.request(method, url, **kwargs)
    except requests.RequestException as exc:
        if _expired(deadline) or (interrupter is not None and interrupter.reason == "deadline"):
            raise StreamTimeoutError("the deadline passed before %s answered" % where, partial=partial) from None
        if isinstance(exc, requests.Timeout):
            raise StreamTimeoutError(
                "timed out connecting to %s (%s)" % (where, type(exc).__name__), partial=partial
            ) from None
        if isinstance(exc, ValueError) or type(exc).__name__ == "InvalidJSONError":
            raise InvalidRequestError("cannot send %s: %s" % (where, type(exc).__name__)) from None
        raise StreamConnectionError(
            "could not connect to %s: %s" % (where, short_reason(exc)), partial=partial
        ) from None
    except UnicodeError:  # a header or body http.client cannot encode (the value is not quoted: it may be a key)
        raise InvalidRequestError("cannot send %s: a header holds a character outside Latin-1" % where) from None
    except ValueError as exc:  # requests and urllib3 failing on a hostile redirect Location
        raise StreamConnectionError(
            "%s redirected to a location that cannot be followed (%s)" % (where, type(exc).__name__), partial=partial
        ) from None


def open_response(
    session: requests.Session,
    method: str,
    url: str,
    *,
    secrets: Optional[Secrets] = None,
    deadline: Optional[float] = None,
    interrupter: Optional[Interrupter] = None,
    partial: Optional[Completion] = None,
    **kwargs: Any
) -> requests.Response:
    """Send the request with ``stream=True`` and return the 2xx response head.

    Adds ``Accept: text/event-stream`` unless the caller set an Accept header.
    Raises :class:`APIStatusError` for non-2xx (the connection is closed, never
    reused), :class:`StreamTimeoutError` / :class:`StreamConnectionError` when
    the server cannot be reached in time, :class:`InvalidRequestError` (never
    retried) for a malformed URL, header or body. *deadline* (a
    ``time.monotonic()`` instant) bounds the error body too; with an
    *interrupter* every wait can be broken by a cancel or the deadline. Every
    message and body these errors quote has *secrets* (default: those of this
    request) redacted; they carry *partial* (what a stream rebuilt so far).
    """
    headers = dict(kwargs.pop("headers", None) or {})
    check_url(url)
    check_headers(headers)
    if secrets is None:
        secrets = request_secrets(session, url, headers, kwargs.get("auth"))
    if not any(name.lower() == "accept" for name in headers):
        headers["Accept"] = EVENT_STREAM
    headers.setdefault("Cache-Control", "no-cache")
    kwargs["stream"] = True
    kwargs["headers"] = headers
    hooks = dict(kwargs.pop("hooks", None) or {})
    response_hooks = hooks.get("response") or []
    hooks["response"] = ([response_hooks] if callable(response_hooks) else list(response_hooks)) + [_keep_keys_home]
    kwargs["hooks"] = hooks
    where = "%s %s" % (method.upper(), redact_url(url))
    response = _send(session, method, url, where, deadline, interrupter, partial, kwargs)
    if not 200 <= response.status_code < 300:
        with contextlib.closing(response):
            raise status_error(response, where, secrets, deadline, partial)
    return response


#: Request headers that carry API keys besides Authorization (which requests itself strips).
KEY_HEADERS = tuple(sorted((set(CREDENTIAL_HEADERS) | set(KEY_HEADER_NAMES)) - {"authorization"}))
_REDIRECTS = SessionRedirectMixin()  # requests' own redirect rules, used for the key headers too


def _keep_keys_home(response: requests.Response, **kwargs: Any) -> None:
    """Response hook: drop the :data:`KEY_HEADERS` on a redirect whenever requests would drop Authorization.

    That is whenever the origin changes (scheme, host or port), except the
    http -> https upgrade on default ports that requests allows. A Location
    that cannot be parsed drops them too.
    """
    if not response.is_redirect:
        return
    try:
        target = _REDIRECTS.get_redirect_target(response) or ""
        strip = _REDIRECTS.should_strip_auth(response.url, urljoin(response.url, target))
    except Exception:  # a hostile Location: requests fails on it next; the keys stay home
        strip = True
    if strip:
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


# --- reading whole bodies ---------------------------------------------------------


def no_reuse(response: requests.Response) -> None:
    """Make sure *response*'s connection is closed, not pooled, when it is released.

    A server that answers an error often closes the connection right after
    (without ``Connection: close``); a retry sent on it would fail.
    """
    raw = getattr(response, "raw", None)
    if raw is not None and hasattr(raw, "_pool"):
        raw._pool = None


def read_body(
    response: requests.Response,
    limit: int = MAX_ERROR_BODY,
    deadline: Optional[float] = None,
    partial: Optional[Completion] = None,
) -> bytes:
    """Read at most *limit* bytes of a (small, finite) body, decoded from gzip etc.

    A read cut by the *deadline* (its socket shut down by an
    :class:`Interrupter`, or a timeout) raises :class:`StreamTimeoutError`.
    """
    try:
        data = response.raw.read(limit, decode_content=True) or b""
    except BROKEN_STREAM_ERRORS:
        data = b""
    if _expired(deadline):
        raise StreamTimeoutError(
            "the deadline passed while the body of an HTTP %d answer was being read" % response.status_code,
            partial=partial,
        )
    return data


def body_text(response: requests.Response, data: bytes) -> str:
    """*data* decoded with the charset the server declared, UTF-8 when it names no usable text codec."""
    encoding = response.encoding or "utf-8"
    try:
        if codecs.lookup(encoding)._is_text_encoding:
            return data.decode(encoding, "replace")
    except (LookupError, UnicodeError, TypeError, ValueError):  # charset=bogus, rot13, idna...
        pass
    return data.decode("utf-8", "replace")


def parse_body(response: requests.Response, data: bytes) -> Any:
    """The body as JSON when it parses as JSON (at any depth Python can hold), else as text."""
    text = body_text(response, data)
    try:
        return json.loads(text)
    except _JSON_MAX_DEPTH_ERRORS:
        return text


def error_message(body: Any, depth: int = 0) -> Optional[str]:
    """The human message from the usual error shapes (OpenAI, Anthropic, FastAPI, HTML)."""
    if isinstance(body, dict):
        if depth > 20:
            return None
        for key in ("error", "message", "detail", "error_message"):
            value = body.get(key)
            if isinstance(value, dict):
                found = error_message(value, depth + 1)
                if found:
                    return found
            elif isinstance(value, str) and value:
                return value
            elif isinstance(value, list) and value:
                return "; ".join(error_message(item, depth + 1) or printable(str(item)[:200]) for item in value[:20])
        return None
    if isinstance(body, str) and body.strip():
        title = re.search(r"<title[^>]*>(.*?)</title>", body, re.I | re.S)
        text = title.group(1) if title else re.sub(r"<[^>]+>", " ", body)
        return " ".join(text.split())[:200] or None
    return None


def _detail(body: Any) -> Optional[str]:
    """:func:`error_message` of *body*, on one line with control characters escaped."""
    try:
        found = error_message(body)
    except RecursionError:
        return None
    return printable(found, 500) if found else None


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` value (seconds or HTTP date), or None; never raises.

    All-digit values are read with ``float`` (Python's ``int`` refuses more
    than 4300 digits): an absurd one becomes ``inf``, which the retry loop
    cuts to its ``max_retry_after``.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if re.match(r"^[0-9]+$", value):
        return float(value)
    try:
        return float(Retry().parse_retry_after(value))
    except (InvalidHeader, ValueError, OverflowError, TypeError):
        try:
            seconds = float(value)
        except ValueError:
            return None
        return max(0.0, seconds) if not math.isnan(seconds) else None


def status_error(
    response: requests.Response,
    where: str,
    secrets: Secrets,
    deadline: Optional[float] = None,
    partial: Optional[Completion] = None,
) -> APIStatusError:
    """Build the :class:`APIStatusError` for a non-2xx response (reads a bounded body; its connection is not reused)."""
    no_reuse(response)
    body = secrets.redact_value(parse_body(response, read_body(response, deadline=deadline, partial=partial)))
    detail = _detail(body)
    message = "HTTP %d %s from %s" % (response.status_code, printable(response.reason or "", 100), where)
    if detail:
        message += ": " + detail
    return status_error_class(response.status_code)(
        secrets.redact(message),
        status_code=response.status_code,
        body=body,
        headers=response.headers,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        partial=partial,
    )


def is_event_stream(response: requests.Response) -> bool:
    """True when the response declares ``Content-Type: text/event-stream``."""
    content_type = response.headers.get("Content-Type", "")
    return content_type.split(";", 1)[0].strip().lower() == EVENT_STREAM


def content_type_error(
    response: requests.Response,
    secrets: Secrets,
    expected: str = EVENT_STREAM,
    body: Optional[bytes] = None,
    deadline: Optional[float] = None,
    partial: Optional[Completion] = None,
) -> ContentTypeError:
    """Build the error for a 2xx body of the wrong kind, quoting what came back (*body* if already read)."""
    no_reuse(response)
    content_type = printable(response.headers.get("Content-Type") or "no Content-Type", 100)
    if body is None:
        body = read_body(response, 2048, deadline, partial)
    preview = secrets.redact(printable(" ".join(body_text(response, body[:2048]).split())[:200]))
    return ContentTypeError(
        "expected %s but the server answered %d with %s: %r"
        % (expected, response.status_code, content_type, preview),
        content_type=content_type,
        body_preview=preview,
        partial=partial,
    )


def response_id(response: requests.Response) -> Optional[str]:
    """The correlation id a gateway put in the response head (see :data:`ID_HEADERS`)."""
    for name in ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value
    return None


# --- the answers ------------------------------------------------------------------


class EventSource:
    """Events of one streaming response. Single use; ``close()`` releases the connection.

    ``deadline`` is a ``time.monotonic()`` instant after which reading fails
    with :class:`StreamTimeoutError`. ``decoder`` exposes ``last_event_id``
    and ``retry`` for reconnecting clients. *progress* tells the errors raised
    while reading what was rebuilt so far (their ``.partial``).
    """

    def __init__(
        self,
        response: requests.Response,
        *,
        deadline: Optional[float] = None,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        progress: Optional[Progress] = None,
    ) -> None:
        self.response = response
        self.deadline = deadline
        self.decoder = SSEDecoder(max_event_size)
        self._progress = progress
        self._body = BodyReader(response, deadline=deadline, progress=progress)
        self._recorder = None  # type: Optional[Recorder]

    def iter_sse(self) -> Iterator[ServerSentEvent]:
        """Yield events as they complete; the connection is released when this ends."""
        feed = self.decoder.feed
        try:
            for chunk in self.iter_bytes():
                try:
                    events = feed(chunk)
                except EventTooLargeError as exc:
                    partial = self._progress()[0] if self._progress is not None else None
                    raise EventTooLargeError(exc.message, limit=exc.limit, partial=partial) from None
                if events:
                    yield from events
        finally:
            self.close()

    def iter_bytes(self) -> Iterator[bytes]:
        """Yield the decoded body as it arrives: each read returns what is there now."""
        return self._body.chunks()

    def finish(self, grace: float = END_GRACE, limit: int = MAX_AFTER_END) -> None:
        """The stream's end marker came: read what follows for *grace* seconds at most, then let go.

        A server that sends the rest of its body at once gets its connection
        reused; one that keeps it open (or sends more than *limit* bytes) has
        it closed. Never raises.
        """
        if not self._body.drain(grace, limit):
            no_reuse(self.response)
        self.close()

    def interrupt(self) -> None:
        """Unblock a read in progress from another thread (the read then sees end of stream)."""
        self._body.interrupt()

    def tap(self, recorder: Recorder) -> None:
        """Show each piece of the body to a cassette *recorder* as it is read; it writes its file at :meth:`close`."""
        self._body.tap = self._recorder = recorder

    def close(self) -> None:
        """Release the connection without reading the rest of the stream."""
        self.response.close()
        if self._recorder is not None:
            self._recorder.close()

    def __enter__(self) -> "EventSource":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class WholeResult:
    """A complete non-streamed answer: its :class:`Completion`, the body as one event, and its bytes."""

    def __init__(self, response: requests.Response, completion: Completion, event: ServerSentEvent, body: bytes) -> None:
        self.response = response
        self.completion = completion
        self.event = event
        self.body = body

    def close(self) -> None:
        self.response.close()


def _whole_result(
    response: requests.Response, secrets: Secrets, max_size: int, deadline: Optional[float], partial: Optional[Completion]
) -> WholeResult:
    """Read a 2xx non-SSE body as a complete result of a known format; anything else raises."""
    expected = "text/event-stream or a JSON result of a known format"
    if "json" not in (response.headers.get("Content-Type") or "").lower():
        raise content_type_error(response, secrets, expected, deadline=deadline, partial=partial)
    data = read_body(response, max_size + 1, deadline, partial)
    if len(data) > max_size:
        no_reuse(response)
        raise EventTooLargeError(
            "the non-streamed JSON answer exceeds the %d-byte limit (raise max_event_size if this server is trusted)"
            % max_size,
            limit=max_size,
            partial=partial,
        )
    try:
        completion = completion_from_result(
            parse_body(response, data), fallback_id=response_id(response), secrets=secrets
        )
    except UnsupportedFormatError:
        raise content_type_error(response, secrets, expected, body=data, partial=partial) from None
    return WholeResult(response, completion, ServerSentEvent(event="message", data=body_text(response, data)), data)


def open_stream(
    session: requests.Session,
    method: str,
    url: str,
    *,
    secrets: Secrets,
    deadline: Optional[float] = None,
    interrupter: Optional[Interrupter] = None,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    progress: Optional[Progress] = None,
    results: bool = False,
    no_content: bool = False,
    **kwargs: Any
) -> Union[EventSource, WholeResult]:
    """Send the request and classify the answer: the one place that does it.

    Returns an :class:`EventSource` for ``text/event-stream`` (and, with
    *no_content*, for a 204, which a feed takes as its end), a
    :class:`WholeResult` for a 2xx JSON result of a known format when
    *results* is true. Raises :class:`APIStatusError` for non-2xx,
    :class:`ContentTypeError` for any other body, :class:`EventTooLargeError`
    for a result over *max_event_size*, and what :func:`open_response` raises.
    Bodies are read within *deadline*; a failed answer's connection is closed.
    Every error carries the ``.partial`` *progress* reports.
    """
    partial = progress()[0] if progress is not None else None
    response = open_response(
        session, method, url, secrets=secrets, deadline=deadline, interrupter=interrupter, partial=partial, **kwargs
    )
    try:
        if is_event_stream(response) or (no_content and response.status_code == 204):
            return EventSource(response, deadline=deadline, max_event_size=max_event_size, progress=progress)
        if not results:
            raise content_type_error(response, secrets, deadline=deadline, partial=partial)
        result = _whole_result(response, secrets, max_event_size, deadline, partial)
    except BaseException:
        response.close()
        raise
    response.close()  # fully read: the connection goes back to the pool
    return result


@contextlib.contextmanager
def connect_sse(
    session: requests.Session, method: str, url: str, **kwargs: Any
) -> Iterator[EventSource]:
    """Open an event stream: ``with connect_sse(s, "GET", url) as source: ...``.

    *kwargs* go to ``session.request`` (``json=``, ``headers=``, ``timeout=``...),
    except ``max_event_size`` and ``record`` (a path: the exchange is recorded
    there as a cassette, keys redacted, see :class:`ssekit.testing.Cassette`).
    Non-2xx raises :class:`APIStatusError`; a 2xx that is not
    ``text/event-stream`` raises :class:`ContentTypeError`. Leaving the block
    closes the response.
    """
    max_event_size = kwargs.pop("max_event_size", DEFAULT_MAX_EVENT_SIZE)
    record = kwargs.pop("record", None)
    secrets = request_secrets(session, url, kwargs.get("headers"), kwargs.get("auth"))
    source = cast(EventSource, open_stream(session, method, url, secrets=secrets, max_event_size=max_event_size, **kwargs))
    if record is not None:
        record_answer(record, source, secrets)
    with source:
        yield source
