"""ssekit.testing: a real local SSE server, byte-exact provider streams, and an embedded LLM gateway.

For unittest suites (yours and ssekit's own): start an :class:`SSEServer`,
script what it answers (:class:`ScriptedResponse`, with the stream builders
giving the exact bytes each provider sends), point the code under test at
``server.url(...)``, and assert on ``server.requests``. :class:`LocalGateway`
is a ready-made LLM endpoint for every wire format. :class:`Cassette` holds a
recorded real exchange (``stream_completion(..., record=path)``);
:func:`replay` / :class:`CassetteServer` serve it byte-exact, and
:func:`rechunkings` / :func:`cuts` split or cut its body anew. Standard library only.
"""
from .._cassette import Cassette, CassetteChunk, CassetteRequest
from ..errors import CassetteError
from .builders import (
    build_events,
    build_result,
    chat_completions_events,
    chunkings,
    gemini_events,
    generation_events,
    messages_events,
    random_chunks,
    responses_events,
    split_tokens,
    sse_event,
)
from .cassette import CassetteServer, cuts, rechunkings, replay
from .gateway import DEFAULT_ANSWER, DEFAULT_MODEL, DEFAULT_PROMPT, FEED_PATH, PATHS, LocalGateway, sample_request
from .server import FRAMINGS, RecordedRequest, ScriptedResponse, SSEServer

__all__ = [
    "Cassette",
    "CassetteChunk",
    "CassetteError",
    "CassetteRequest",
    "CassetteServer",
    "DEFAULT_ANSWER",
    "DEFAULT_MODEL",
    "DEFAULT_PROMPT",
    "FEED_PATH",
    "FRAMINGS",
    "LocalGateway",
    "PATHS",
    "RecordedRequest",
    "SSEServer",
    "ScriptedResponse",
    "build_events",
    "build_result",
    "chat_completions_events",
    "chunkings",
    "cuts",
    "gemini_events",
    "generation_events",
    "messages_events",
    "random_chunks",
    "rechunkings",
    "replay",
    "responses_events",
    "sample_request",
    "split_tokens",
    "sse_event",
]
