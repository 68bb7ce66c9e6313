"""ssekit: read Server-Sent-Event streams (above all LLM token streams) synchronously.

The decoder, the result types, the format accumulators and the WSGI relay are
standard-library only. The HTTP layer needs ``requests``: it is imported with the package when
requests is installed (so that the first stream pays no import, in time or in
memory), and otherwise on first use of one of its names, so ``import ssekit``
works without it.
"""
import importlib
import logging
from typing import TYPE_CHECKING, Any

from .completion import Completion, ToolCall, Usage
from .errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ContentTypeError,
    EventTooLargeError,
    GatewayTimeoutError,
    IncompleteStreamError,
    InternalServerError,
    InvalidRequestError,
    MalformedEventError,
    PartialJSONError,
    NotFoundError,
    OverloadedError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    SSEKitError,
    ServiceUnavailableError,
    StreamConnectionError,
    StreamError,
    StreamGapError,
    StreamTimeoutError,
    ToolCallArgumentsError,
    ToolRoundsExceededError,
    UnprocessableEntityError,
    UnsupportedFormatError,
)
from .formats import (
    ChatCompletionsAccumulator,
    CohereAccumulator,
    GeminiAccumulator,
    GenerationAccumulator,
    MessagesAccumulator,
    ResponsesAccumulator,
    accumulate,
    iter_updates,
    tool_results,
)
from .partial_json import PartialJSONParser, parse_partial_json
from .relay import Relay, relay
from .sse import SSEDecoder, ServerSentEvent, iter_sse, iter_sse_lines
from .updates import Update

__version__ = "0.1.0"

# A library does not print: retry warnings reach the application's handlers only.
logging.getLogger(__name__).addHandler(logging.NullHandler())

# name -> module, for the names that need requests (PEP 562 lazy attributes).
_LAZY = {
    "connect_sse": "http",
    "EventSource": "http",
    "stream_completion": "stream",
    "CompletionStream": "stream",
    "follow_sse": "stream",
    "attempts": "control",
    "Resume": "resume",
    "tool_loop": "loop",
    "ToolLoop": "loop",
}

if TYPE_CHECKING:  # pragma: no cover - let type checkers see the lazy names
    from .control import attempts
    from .http import EventSource, connect_sse
    from .loop import ToolLoop, tool_loop
    from .resume import Resume
    from .stream import CompletionStream, follow_sse, stream_completion


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'ssekit' has no attribute %r" % name)
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> "list[str]":
    return sorted(list(globals()) + list(_LAZY))


def _load_http_layer() -> None:
    """Import the HTTP names now when requests is there; without it they fail only when first used."""
    try:
        for name in _LAZY:
            __getattr__(name)
    except ImportError:  # decoding and accumulating still work
        pass


_load_http_layer()


__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "ChatCompletionsAccumulator",
    "CohereAccumulator",
    "Completion",
    "CompletionStream",
    "ConflictError",
    "ContentTypeError",
    "EventSource",
    "EventTooLargeError",
    "GatewayTimeoutError",
    "GeminiAccumulator",
    "GenerationAccumulator",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidRequestError",
    "MalformedEventError",
    "PartialJSONError",
    "PartialJSONParser",
    "MessagesAccumulator",
    "NotFoundError",
    "OverloadedError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "Relay",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ResponsesAccumulator",
    "Resume",
    "SSEDecoder",
    "SSEKitError",
    "ServerSentEvent",
    "ServiceUnavailableError",
    "StreamConnectionError",
    "StreamError",
    "StreamGapError",
    "StreamTimeoutError",
    "ToolCall",
    "ToolCallArgumentsError",
    "ToolLoop",
    "ToolRoundsExceededError",
    "UnprocessableEntityError",
    "UnsupportedFormatError",
    "Update",
    "Usage",
    "accumulate",
    "attempts",
    "connect_sse",
    "follow_sse",
    "iter_sse",
    "iter_sse_lines",
    "iter_updates",
    "parse_partial_json",
    "relay",
    "stream_completion",
    "tool_loop",
    "tool_results",
]
