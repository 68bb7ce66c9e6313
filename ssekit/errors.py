"""Every exception ssekit raises, in one place.

All of them derive from :class:`SSEKitError`. Errors raised while a stream is
being read carry ``.partial``: the :class:`~ssekit.completion.Completion`
rebuilt from what arrived before the failure (``None`` where nothing was being
accumulated, e.g. the bare decoder). Messages are built complete where the
error is raised, and never contain API keys or raw control characters: the
raising code passes what it quotes through :mod:`ssekit._text`.
"""
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Type

if TYPE_CHECKING:  # pragma: no cover - imports for type checkers only
    from .completion import Completion

__all__ = [
    "SSEKitError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "NotFoundError",
    "RequestTimeoutError",
    "ConflictError",
    "RequestTooLargeError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
    "GatewayTimeoutError",
    "OverloadedError",
    "status_error_class",
    "ContentTypeError",
    "InvalidRequestError",
    "StreamConnectionError",
    "EventTooLargeError",
    "MalformedEventError",
    "StreamError",
    "IncompleteStreamError",
    "StreamTimeoutError",
    "StreamGapError",
    "UnsupportedFormatError",
    "ToolCallArgumentsError",
    "PartialJSONError",
    "CassetteError",
]


class SSEKitError(Exception):
    """Base of every ssekit exception. ``partial`` is what was rebuilt so far."""

    def __init__(self, message: str, *, partial: "Optional[Completion]" = None) -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial

    def __str__(self) -> str:
        return self.message


# --- before any event: the request and the response head ------------------


class APIStatusError(SSEKitError):
    """The server answered with a non-2xx status before streaming began."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
        retry_after: Optional[float] = None,
        partial: "Optional[Completion]" = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """HTTP 400: the provider refused the request as malformed (not retried)."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing, wrong or revoked."""


class PaymentRequiredError(APIStatusError):
    """HTTP 402: insufficient balance or credits (as gateways send it)."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key may not use this model or endpoint."""


class NotFoundError(APIStatusError):
    """HTTP 404: no such endpoint or model."""


class RequestTimeoutError(APIStatusError):
    """HTTP 408: the server gave up waiting for the request (retried)."""


class ConflictError(APIStatusError):
    """HTTP 409: a conflicting request is in progress (retried)."""


class RequestTooLargeError(APIStatusError):
    """HTTP 413: the request (prompt, attachments) is too large."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the request is well-formed but its values are refused."""


class RateLimitError(APIStatusError):
    """HTTP 429: too many requests or tokens; ``retry_after`` says how long to wait (retried)."""


class InternalServerError(APIStatusError):
    """HTTP 5xx: the provider failed (retried)."""


class ServiceUnavailableError(InternalServerError):
    """HTTP 503: the service is down or shedding load (retried)."""


class GatewayTimeoutError(InternalServerError):
    """HTTP 504: a proxy in front of the provider timed out (retried)."""


class OverloadedError(InternalServerError):
    """HTTP 529: the provider is overloaded (Anthropic's status; retried)."""


#: The class of :class:`APIStatusError` for each status that has its own (5xx without one: InternalServerError).
_STATUS_ERRORS = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
    529: OverloadedError,
}  # type: Dict[int, Type[APIStatusError]]


def status_error_class(status_code: int) -> "Type[APIStatusError]":
    """The :class:`APIStatusError` subclass for *status_code* (``APIStatusError`` itself for the others)."""
    found = _STATUS_ERRORS.get(status_code)
    if found is not None:
        return found
    return InternalServerError if 500 <= status_code < 600 else APIStatusError


class ContentTypeError(SSEKitError):
    """A 2xx response that is not an event stream (and not a result we accept)."""

    def __init__(
        self, message: str, *, content_type: str, body_preview: str = "", partial: "Optional[Completion]" = None
    ) -> None:
        super().__init__(message, partial=partial)
        self.content_type = content_type
        self.body_preview = body_preview


class InvalidRequestError(SSEKitError, ValueError):
    """The request cannot be sent as given (malformed URL or header); never retried."""


class StreamConnectionError(SSEKitError):
    """The server could not be reached, or the connection failed before any event."""


# --- while reading events ---------------------------------------------------


class EventTooLargeError(SSEKitError):
    """A line or event exceeded the decoder's size limit (protects memory)."""

    def __init__(self, message: str, *, limit: int, partial: "Optional[Completion]" = None) -> None:
        super().__init__(message, partial=partial)
        self.limit = limit


class MalformedEventError(SSEKitError, ValueError):
    """An event's payload is not the JSON its format requires."""

    def __init__(self, message: str, *, data: str = "", partial: "Optional[Completion]" = None) -> None:
        super().__init__(message, partial=partial)
        self.data = data


class StreamError(SSEKitError):
    """The provider reported an error inside the stream (an error event or object).

    ``type`` and ``code`` are the provider's own (``overloaded_error``,
    ``rate_limit_exceeded``, ``insufficient_quota``...). ``retryable`` is True
    when the format module knows the error as a passing one (overloaded, rate
    limited, a server error): ``stream_completion`` then retries it under the
    retry policy if it came before any output reached the caller.
    """

    def __init__(
        self,
        message: str,
        *,
        type: Optional[str] = None,
        code: Any = None,
        body: Any = None,
        retryable: bool = False,
        partial: "Optional[Completion]" = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.type = type
        self.code = code
        self.body = body
        self.retryable = retryable


class IncompleteStreamError(SSEKitError):
    """The stream ended (or broke) before its format's proper end."""


class StreamTimeoutError(IncompleteStreamError):
    """No byte arrived within the read timeout, or the whole-stream deadline passed."""


class StreamGapError(SSEKitError):
    """A resumed stream skipped events: its first new ``sequence_number`` is not the one after the last
    delivered (``expected``, ``received``). Never retried: events were lost, so the answer cannot be exact.
    """

    def __init__(self, message: str, *, expected: int, received: int, partial: "Optional[Completion]" = None) -> None:
        super().__init__(message, partial=partial)
        self.expected = expected
        self.received = received


class UnsupportedFormatError(SSEKitError, ValueError):
    """The wire format is unknown or could not be recognised."""


class ToolCallArgumentsError(SSEKitError, ValueError):
    """A tool call's accumulated arguments are not valid JSON."""


class ToolRoundsExceededError(SSEKitError):
    """A tool loop reached ``max_rounds`` answers and the last one still asked for tools (they were not run).

    ``partial`` is that last answer; ``rounds`` the number of answers streamed.
    """

    def __init__(self, message: str, *, rounds: int, partial: "Optional[Completion]" = None) -> None:
        super().__init__(message, partial=partial)
        self.rounds = rounds


class PartialJSONError(SSEKitError, ValueError):
    """Text that no continuation can make into a JSON document (``parse_partial_json``, ``PartialJSONParser``).

    A prefix that is merely cut never raises this. ``position`` is the index of
    the first character that cannot belong to a JSON document, counted from
    the start of everything fed to the parser.
    """

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(message)
        self.position = position


class CassetteError(SSEKitError, ValueError):
    """A file that is not a cassette ssekit can read (not JSON lines, no version, a newer major version)."""
