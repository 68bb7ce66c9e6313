"""Replaying cassettes: a local server that sends a recorded body chunk by chunk, and the body split or cut anew.

:class:`CassetteServer` serves one :class:`~ssekit.testing.Cassette` at its
recorded path on 127.0.0.1: the recorded status and headers, then each chunk
as one write (one HTTP chunk), with the recorded gaps times *time_scale*
(0: as fast as possible), and the recorded end (a cut connection, or one
left open). Any client sees the bytes the provider sent. :func:`replay` is
the unittest helper: it starts the server, hands it to the test, and then
checks that the requests the code under test sent match the recorded one
(method, path, and the body fields the test names), failing with a diff.
:func:`rechunkings` and :func:`cuts` give the same body split otherwise or
cut short, for ``subTest`` loops. Standard library only.
"""
import contextlib
import difflib
import json
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from .._cassette import Cassette, PathLike
from .builders import chunkings
from .server import ChunkInput, RecordedRequest, ScriptedResponse, SSEServer

__all__ = ["CassetteServer", "cuts", "rechunkings", "replay", "scripted_response"]

#: Recorded response headers a replay does not repeat: the framing, encoding and hop-by-hop
#: headers the replay server sets for its own body, and the Date and Server it sends itself.
NOT_REPLAYED = frozenset(
    ["transfer-encoding", "content-length", "content-encoding", "connection", "keep-alive", "date", "server"]
)
_MISSING = "<missing>"

CassetteLike = Union[Cassette, PathLike]


def _cassette(cassette: CassetteLike) -> Cassette:
    return cassette if isinstance(cassette, Cassette) else Cassette.load(cassette)


def scripted_response(
    cassette: Cassette, *, time_scale: float = 0.0, framing: str = "chunked", gzip: bool = False
) -> ScriptedResponse:
    """The :class:`ScriptedResponse` that replays *cassette*: each chunk one write, the gaps times *time_scale*.

    *framing* and *gzip* choose how the body goes on the wire (the recorded
    body is the decoded one, so any framing gives the client the same bytes).
    """
    chunks = []  # type: List[ChunkInput]
    previous = 0.0
    for chunk in cassette.chunks:
        gap = (chunk.t - previous) * time_scale
        previous = max(previous, chunk.t)
        if gap > 0:
            chunks.append(gap)
        chunks.append(chunk.data)
    headers = {name: value for name, value in cassette.headers if name.lower() not in NOT_REPLAYED}
    response = ScriptedResponse(
        status=cassette.status, headers=headers, chunks=chunks, framing=framing, gzip=gzip,
        stall=cassette.end == "open", head_delay=max(0.0, cassette.elapsed * time_scale),
    )
    if cassette.end == "cut":  # after the last chunk, without a proper end (no gzip trailer either)
        wire = [piece for piece in response.wire_body() if isinstance(piece, bytes)]
        response.cut_after = sum(map(len, wire[:-1] if gzip else wire))
    return response


class CassetteServer:
    """A local server replaying one cassette at its recorded path (any method); a context manager.

    :attr:`url` is the recorded URL on this server (path and query),
    :attr:`base_url` its origin (``http://127.0.0.1:PORT``), :attr:`requests`
    what it received. Every request gets the same replay.
    """

    def __init__(
        self,
        cassette: CassetteLike,
        *,
        time_scale: float = 0.0,
        framing: str = "chunked",
        gzip: bool = False,
        host: str = "127.0.0.1",
        port: int = 0
    ) -> None:
        self.cassette = _cassette(cassette)
        #: The :class:`SSEServer` underneath (add routes to it for other requests of the code under test).
        self.server = SSEServer(host, port)
        self.server.script(
            self.cassette.request.path,
            scripted_response(self.cassette, time_scale=time_scale, framing=framing, gzip=gzip),
        )

    def __repr__(self) -> str:
        return "<CassetteServer %r on %r>" % (self.cassette, self.server)

    def start(self) -> "CassetteServer":
        """Start serving in background threads; returns the server."""
        self.server.start()
        return self

    def close(self) -> None:
        """Stop serving and close every connection."""
        self.server.close()

    def __enter__(self) -> "CassetteServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the origin to give code that appends its own paths."""
        return self.server.url("/").rstrip("/")

    @property
    def url(self) -> str:
        """The recorded URL's path and query on this server (a redacted query value stays ``[redacted]``)."""
        query = self.cassette.request.query
        return self.server.url(self.cassette.request.path) + ("?" + query if query else "")

    @property
    def requests(self) -> List[RecordedRequest]:
        """Every request received so far."""
        return self.server.requests

    def mismatches(self, match: Iterable[str] = ()) -> Optional[str]:
        """What differs between the requests received and the recorded one (method, path, body fields *match*), or None."""
        expected = self.cassette.request
        recorded_body = expected.json()
        problems = []  # type: List[str]
        for number, request in enumerate(self.requests, 1):
            found = []  # type: List[str]
            if request.method != expected.method:
                found.append("method: recorded %s, sent %s" % (expected.method, request.method))
            if request.path != expected.path:
                found.append("path: recorded %r, sent %r" % (expected.path, request.path))
            sent_body = request.json()
            for name in match:
                recorded, sent = _field(recorded_body, name), _field(sent_body, name)
                if recorded != sent:
                    found.append("body field %r differs:\n%s" % (name, _diff(recorded, sent)))
            if found:
                problems.append("request %d of %d:\n  %s" % (number, len(self.requests), "\n  ".join(found)))
        if not problems:
            return None
        return "the request sent differs from the one recorded in the cassette (%s %s)\n%s" % (
            expected.method, expected.path, "\n".join(problems),
        )

    def check_requests(self, match: Iterable[str] = ()) -> None:
        """Fail (``AssertionError`` with a diff) unless requests came and each matches the recorded one."""
        if not self.requests:
            raise AssertionError(
                "the code under test sent no request to the cassette server (%s %s)"
                % (self.cassette.request.method, self.url)
            )
        problem = self.mismatches(match)
        if problem:
            raise AssertionError(problem)


def _field(body: Any, name: str) -> Any:
    """The value at dotted *name* (``messages.0.content``) in *body*, or a marker when it is absent."""
    value = body
    for key in name.split("."):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return _MISSING
    return value


def _diff(recorded: Any, sent: Any) -> str:
    def lines(value: Any) -> List[str]:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()

    return "\n".join(
        "    " + line for line in difflib.unified_diff(lines(recorded), lines(sent), "recorded", "sent", lineterm="")
    )


@contextlib.contextmanager
def replay(
    cassette: CassetteLike,
    *,
    match: Sequence[str] = (),
    time_scale: float = 0.0,
    framing: str = "chunked",
    gzip: bool = False
) -> Iterator[CassetteServer]:
    """Serve *cassette* (a :class:`Cassette` or a path) for the block, then check the requests it got.

    ``with replay("tests/cassettes/chat.jsonl", match=["model", "messages"]) as server:``
    point the code under test at ``server.url`` (or ``server.base_url``).
    On leaving the block, fails with an ``AssertionError`` and a diff unless
    a request came and each had the recorded method and path and the same
    values of the *match* body fields (dotted for nested ones:
    ``generationConfig.maxOutputTokens``). If the block raised, a mismatch
    is reported instead (the original error chained), else the error goes on.
    """
    server = CassetteServer(cassette, time_scale=time_scale, framing=framing, gzip=gzip).start()
    try:
        try:
            yield server
        except Exception:
            problem = server.mismatches(match)
            if problem:
                raise AssertionError(problem)
            raise
        server.check_requests(match)
    finally:
        server.close()


def rechunkings(
    cassette: CassetteLike, *, seed: int = 0, count: int = 6, two_way: bool = False
) -> Iterator[Tuple[str, Cassette]]:
    """``(label, cassette)`` for the same body split otherwise: as recorded, whole, one byte at a time,
    *count* seeded random splits, and with *two_way* every split in two (as many as the body has bytes).

    ``for label, variant in rechunkings(path): with self.subTest(label): ...``
    """
    original = _cassette(cassette)
    yield "as recorded", original
    body = original.body
    for number, pieces in enumerate(chunkings(body, seed=seed, count=count)):
        labels = ("whole body", "one byte at a time")
        yield labels[number] if number < 2 else "random split %d (seed %d)" % (number - 1, seed), original.with_chunks(pieces)
    if two_way:
        for offset in range(1, len(body)):
            yield "split at byte %d" % offset, original.with_chunks([body[:offset], body[offset:]])


def cuts(cassette: CassetteLike, offsets: Optional[Iterable[int]] = None) -> Iterator[Tuple[int, Cassette]]:
    """``(offset, cassette)`` with the connection cut after *offset* body bytes (default: each offset before the end)."""
    original = _cassette(cassette)
    for offset in range(len(original.body)) if offsets is None else offsets:
        yield offset, original.cut(offset)
