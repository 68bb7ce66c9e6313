"""HTTP glue over requests: open an event stream, map HTTP failures to exceptions.

``connect_sse`` is the low-level entry point, in the spirit of httpx-sse: a
context manager yielding an :class:`EventSource` whose ``iter_sse()`` hands
over each event the moment its blank line arrives, whatever the framing
(chunked, Content-Length, close-delimited, gzip: see :mod:`ssekit.body`).
"""
import contextlib
import json
import re
from typing import Any, Iterator, Mapping, Optional
from urllib.parse import urljoin
import requests
from requests.sessions import SessionRedirectMixin
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from ._text import CREDENTIAL_HEADERS, Secrets, printable, redact_url
from .body import BROKEN_STREAM_ERRORS, BodyReader
from .errors import (
    APIStatusError,
    ContentTypeError,
    InvalidRequestError,
    StreamConnectionError,
    StreamTimeoutError,
)
from .sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, SSEDecoder

EVENT_STREAM = "text/event-stream"
#: Most bytes of an error or non-SSE body read into memory for messages.
MAX_ERROR_BODY = 64 * 1024


def request_secrets(session: requests.Session, url: str, headers: Optional[Mapping[str, Any]], auth: Any = None) -> Secrets:
    """Every secret a request on *session* carries: its own and the session's key headers, the URL, ``auth``."""
    return Secrets.of_request(session.headers, headers, url=url, auth=auth if auth is not None else session.auth)


def open_response(
    session: requests.Session, method: str, url: str, *, secrets: Optional[Secrets] = None, **kwargs: Any
) -> requests.Response:
    """Send the request with ``stream=True`` and return the 2xx response head.

    Adds ``Accept: text/event-stream`` unless the caller set an Accept header.
    Raises :class:`APIStatusError` for non-2xx (the response is closed),
    :class:`StreamTimeoutError` / :class:`StreamConnectionError` when the
    server cannot be reached in time, :class:`InvalidRequestError` (never
    retried) for a malformed URL or header. Every message and body these
    errors quote has *secrets* (default: those of this request) redacted.
    """
    headers = dict(kwargs.pop("headers", None) or {})
    if secrets is None:
        secrets = request_secrets(session, url, headers, kwargs.get("auth"))
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
    except ValueError as exc:  # requests and urllib3 failing on a hostile redirect Location
        raise StreamConnectionError(
            "%s redirected to a location that cannot be followed (%s)" % (where, type(exc).__name__)
        ) from None
    if not 200 <= response.status_code < 300:
        with contextlib.closing(response):
            raise status_error(response, where, secrets)
    return response


#: Request headers that carry API keys besides Authorization (which requests itself strips).
KEY_HEADERS = tuple(name for name in CREDENTIAL_HEADERS if name != "authorization")
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
    except BROKEN_STREAM_ERRORS:
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


def _detail(body: Any) -> Optional[str]:
    """:func:`error_message` of *body*, on one line with control characters escaped."""
    try:
        found = error_message(body)
    except RecursionError:
        return None
    return printable(found, 500) if found else None


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


def status_error(response: requests.Response, where: str, secrets: Secrets) -> APIStatusError:
    """Build the :class:`APIStatusError` for a non-2xx response (reads a bounded body)."""
    body = secrets.redact_value(parse_body(response, read_body(response)))
    detail = _detail(body)
    message = "HTTP %d %s from %s" % (response.status_code, printable(response.reason or "", 100), where)
    if detail:
        message += ": " + detail
    return APIStatusError(
        secrets.redact(message),
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
    response: requests.Response,
    secrets: Secrets,
    expected: str = EVENT_STREAM,
    body: Optional[bytes] = None,
) -> ContentTypeError:
    """Build the error for a 2xx body of the wrong kind, quoting what came back (*body* if already read)."""
    content_type = printable(response.headers.get("Content-Type") or "no Content-Type", 100)
    if body is None:
        body = read_body(response, 2048)
    preview = secrets.redact(printable(" ".join(body[:2048].decode("utf-8", "replace").split())[:200]))
    return ContentTypeError(
        "expected %s but the server answered %d with %s: %r"
        % (expected, response.status_code, content_type, preview),
        content_type=content_type,
        body_preview=preview,
    )


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
        self._body = BodyReader(response, deadline=deadline)

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
        return iter(self._body)

    def interrupt(self) -> None:
        """Unblock a read in progress from another thread (the read then sees end of stream)."""
        self._body.interrupt()

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
    secrets = request_secrets(session, url, kwargs.get("headers"), kwargs.get("auth"))
    response = open_response(session, method, url, secrets=secrets, **kwargs)
    with EventSource(response, max_event_size=max_event_size) as source:
        if not is_event_stream(response):
            raise content_type_error(response, secrets)
        yield source
