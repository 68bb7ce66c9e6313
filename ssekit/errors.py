"""Every exception ssekit raises, in one place.

All of them derive from :class:`SSEKitError`. Errors raised while a stream is
being read carry ``.partial``: the :class:`~ssekit.completion.Completion`
rebuilt from what arrived before the failure (``None`` where nothing was being
accumulated, e.g. the bare decoder). Messages are built complete where the
error is raised, and never contain API keys or raw control characters: the
raising code passes what it quotes through :mod:`ssekit._text`.
"""
from typing import TYPE_CHECKING, Any, Mapping, Optional

if TYPE_CHECKING:  # pragma: no cover - imports for type checkers only
    from .completion import Completion


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
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})
        self.retry_after = retry_after


class ContentTypeError(SSEKitError):
    """A 2xx response that is not an event stream (and not a result we accept)."""

    def __init__(self, message: str, *, content_type: str, body_preview: str = "") -> None:
        super().__init__(message)
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
    """The provider reported an error inside the stream (an error event or object)."""

    def __init__(
        self,
        message: str,
        *,
        type: Optional[str] = None,
        code: Any = None,
        body: Any = None,
        partial: "Optional[Completion]" = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.type = type
        self.code = code
        self.body = body


class IncompleteStreamError(SSEKitError):
    """The stream ended (or broke) before its format's proper end."""


class StreamTimeoutError(IncompleteStreamError):
    """No byte arrived within the read timeout, or the whole-stream deadline passed."""


class UnsupportedFormatError(SSEKitError, ValueError):
    """The wire format is unknown or could not be recognised."""


class ToolCallArgumentsError(SSEKitError, ValueError):
    """A tool call's accumulated arguments are not valid JSON."""
