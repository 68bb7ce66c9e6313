"""Byte-exact LLM streams and results, as the providers send them, for tests and demos.

:func:`build_events` returns one ``bytes`` item per SSE event of a format's
stream (a test server can write them one at a time), following the vendor's
published stream format; :func:`build_result` gives the matching non-streamed
answer. Each format's builder lives in its testing twin
(:mod:`ssekit.testing.providers`); all take the same keywords (see
:mod:`ssekit.testing.providers.base`). The per-format names
(``chat_completions_events``...) are kept here for convenience. Also here:
:func:`random_chunks` and :func:`chunkings`, to cut any stream as a network
would. Standard library only.
"""
import random
from types import ModuleType
from typing import Any, Dict, Iterable, Iterator, List, Union

from ..errors import UnsupportedFormatError
from .providers import PROVIDERS, chat_completions, gemini, generation, messages, responses
from .providers.base import ErrorLike, ToolCallSpec, UsageLike, split_tokens, sse_event


def random_chunks(data: Union[bytes, Iterable[bytes]], rng: random.Random, max_size: int = 64) -> List[bytes]:
    """Cut *data* (bytes, or a list of events to join) at random places, as a network would."""
    if not isinstance(data, bytes):
        data = b"".join(data)
    chunks = []
    position = 0
    while position < len(data):
        size = rng.randint(1, max_size)
        chunks.append(data[position : position + size])
        position += size
    return chunks


def chunkings(data: Union[bytes, Iterable[bytes]], seed: int = 0, count: int = 6) -> Iterator[List[bytes]]:
    """*data* cut in several ways: whole, one byte at a time, then *count* seeded random cuttings.

    A stream consumer must give the same result for each of them.
    """
    if not isinstance(data, bytes):
        data = b"".join(data)
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    for _ in range(count):
        yield random_chunks(data, rng, rng.choice((3, 16, 200)))


# --- by format name -----------------------------------------------------------

chat_completions_events = chat_completions.events
responses_events = responses.events
messages_events = messages.events
generation_events = generation.events
gemini_events = gemini.events


def _provider(format: str) -> ModuleType:
    provider = PROVIDERS.get(format)
    if provider is None:
        raise UnsupportedFormatError("no builder for format %r; valid: %s" % (format, ", ".join(sorted(PROVIDERS))))
    return provider


def build_events(format: str, text: Any = None, **options: Any) -> List[bytes]:
    """The stream of *format* (a name of :data:`ssekit.formats.FORMATS`); *options* go to its builder."""
    return _provider(format).events(text, **options)  # type: ignore[no-any-return]


def build_result(format: str, text: Any = None, **options: Any) -> Dict[str, Any]:
    """The non-streamed answer of *format*, as its provider returns it for ``stream: false``.

    Same keywords as the stream builders; *reasoning* and *refusal* are
    ignored where the format's result has no place for them.
    """
    return _provider(format).result(text, **options)  # type: ignore[no-any-return]


__all__ = [
    "ErrorLike",
    "ToolCallSpec",
    "UsageLike",
    "build_events",
    "build_result",
    "chat_completions_events",
    "chunkings",
    "gemini_events",
    "generation_events",
    "messages_events",
    "random_chunks",
    "responses_events",
    "split_tokens",
    "sse_event",
]
