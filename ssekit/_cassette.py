"""Cassettes: one real streamed exchange, recorded with its chunk boundaries and timing (internal).

A cassette is a JSON-lines text file: a header line (format version, the
request with its keys redacted, the response status and headers), one line
per body chunk as ssekit read it from the socket (after the chunked transfer
coding and gzip are undone: the bytes the SSE decoder was given), each with
its arrival time, and an end line saying how the body ended. The format is
described in the README ("Record and replay"); :class:`Cassette` loads any
1.x file and ignores fields and line kinds it does not know.

:class:`Recorder` writes one while a stream is read (``stream_completion(...,
record=path)``, ``connect_sse(..., record=path)``, ``ssekit record``). It never
writes a secret: credential headers are replaced whole, and every other value
(URL, headers, body, response, chunks) has the request's secrets replaced.
Standard library only; the public names are in :mod:`ssekit.testing`.
"""
import base64
import binascii
import json
import os
import tempfile
import time
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from ._text import CREDENTIAL_HEADERS, REDACTED, SECRET_PARAM, Secrets, printable
from .errors import CassetteError, InvalidRequestError, StreamTimeoutError
from .formats import KEY_HEADER_NAMES

if TYPE_CHECKING:  # pragma: no cover - imports for type checkers only
    from .http import EventSource, WholeResult

__all__ = ["FORMAT_VERSION", "Cassette", "CassetteChunk", "CassetteRequest", "Recorder", "record_answer"]

#: The version this module writes, "MAJOR.MINOR": any 1.x file loads (unknown fields ignored).
FORMAT_VERSION = "1.0"
_MAJOR = 1
#: How a recorded body ended: its proper end, a broken connection, or still open when the reader stopped.
ENDS = ("eof", "cut", "open")
#: Headers whose whole value is replaced (keys, cookies), whatever it holds.
SECRET_HEADERS = frozenset(set(CREDENTIAL_HEADERS) | set(KEY_HEADER_NAMES) | {"cookie", "set-cookie"})
Headers = List[Tuple[str, str]]
PathLike = Union[str, "os.PathLike[str]"]


class CassetteChunk(NamedTuple):
    """One piece of the body as it arrived: *t* seconds after the response head, and its bytes."""

    t: float
    data: bytes


class CassetteRequest(NamedTuple):
    """The recorded request: method, URL (keys redacted), headers as ``(name, value)`` pairs, body bytes."""

    method: str
    url: str
    headers: Headers
    body: bytes

    @property
    def path(self) -> str:
        """The URL's path (``/v1/chat/completions``)."""
        return urlsplit(self.url).path or "/"

    @property
    def query(self) -> str:
        """The URL's query string, ``""`` if none."""
        return urlsplit(self.url).query

    def json(self) -> Any:
        """The body parsed as JSON, or None if it is empty or not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None


class Cassette:
    """One recorded exchange: :attr:`request`, response :attr:`status` / :attr:`headers`, body :attr:`chunks`.

    :attr:`end` says how the body ended (``"eof"``, ``"cut"``, ``"open"``);
    :attr:`elapsed` is the seconds from sending the request to the response
    head. Load with :meth:`load` / :meth:`loads`, write with :meth:`save` /
    :meth:`dumps`; :meth:`with_chunks` gives the same exchange split differently,
    :meth:`cut` the exchange broken off after some bytes.
    """

    def __init__(
        self,
        request: CassetteRequest,
        status: int = 200,
        headers: Optional[Headers] = None,
        chunks: Iterable[CassetteChunk] = (),
        end: str = "eof",
        *,
        reason: str = "",
        elapsed: float = 0.0
    ) -> None:
        if end not in ENDS:
            raise CassetteError("a cassette's end is one of %s, not %r" % (", ".join(ENDS), end))
        self.request = request
        self.status = status
        self.reason = reason
        self.headers = list(headers or [])  # type: Headers
        self.chunks = list(chunks)  # type: List[CassetteChunk]
        self.end = end
        self.elapsed = elapsed

    def __repr__(self) -> str:
        return "<Cassette %s %s: %d, %d chunk(s), %d bytes, %s>" % (
            self.request.method, self.request.path, self.status, len(self.chunks), len(self.body), self.end,
        )

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Cassette) and self.dumps() == other.dumps()

    @property
    def body(self) -> bytes:
        """The whole body: every chunk joined."""
        return b"".join(chunk.data for chunk in self.chunks)

    @property
    def pieces(self) -> List[bytes]:
        """The body's chunks as bytes, as they arrived (``iter_sse(cassette.pieces)``)."""
        return [chunk.data for chunk in self.chunks]

    def header(self, name: str) -> Optional[str]:
        """The first response header called *name* (any case), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def with_chunks(self, pieces: Sequence[bytes], end: Optional[str] = None) -> "Cassette":
        """This exchange with its body made of *pieces* (no gaps between them), ending as *end* (default: as recorded)."""
        return Cassette(
            self.request, self.status, self.headers, [CassetteChunk(0.0, bytes(piece)) for piece in pieces],
            self.end if end is None else end, reason=self.reason, elapsed=self.elapsed,
        )

    def cut(self, offset: int) -> "Cassette":
        """This exchange with the connection cut after *offset* body bytes (chunk boundaries and times kept)."""
        chunks = []  # type: List[CassetteChunk]
        left = max(0, offset)
        for chunk in self.chunks:
            if left <= 0:
                break
            chunks.append(CassetteChunk(chunk.t, chunk.data[:left]))
            left -= len(chunk.data)
        return Cassette(self.request, self.status, self.headers, chunks, "cut", reason=self.reason, elapsed=self.elapsed)

    # --- the text format ------------------------------------------------------

    def dumps(self) -> str:
        """The cassette as JSON-lines text (header, one line per chunk, end line)."""
        head = {
            "ssekit_cassette": FORMAT_VERSION,
            "request": dict(
                method=self.request.method,
                url=self.request.url,
                headers=[list(pair) for pair in self.request.headers],
                **_bytes_field("body", self.request.body)
            ),
            "response": {
                "status": self.status,
                "reason": self.reason,
                "headers": [list(pair) for pair in self.headers],
                "elapsed": round(self.elapsed, 6),
            },
        }
        lines = [head] + [
            dict(t=round(chunk.t, 6), **_bytes_field("text", chunk.data, "base64")) for chunk in self.chunks
        ] + [{"end": self.end}]
        return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)

    def save(self, path: PathLike) -> None:
        """Write the cassette to *path* (UTF-8), replacing the file whole: a reader never sees half of it."""
        _write_atomically(path, self.dumps())

    @classmethod
    def load(cls, path: PathLike) -> "Cassette":
        """Read a cassette file; :class:`CassetteError` if it is not one (or of a newer major version)."""
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except UnicodeDecodeError:
            raise CassetteError("%s is not a cassette: it is not UTF-8 text" % os.fspath(path)) from None
        return cls.loads(text, where=os.fspath(path))

    @classmethod
    def loads(cls, text: str, where: str = "the cassette") -> "Cassette":
        """Parse cassette text: the header line, then chunk lines and the end line; unknown fields are ignored.

        A file without an end line (its recording was killed) ends as ``"cut"``.
        """
        records = []  # type: List[Tuple[int, Dict[str, Any]]]
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise CassetteError("%s, line %d: not JSON" % (where, number)) from None
            if not isinstance(record, dict):
                raise CassetteError("%s, line %d: a JSON object was expected" % (where, number))
            records.append((number, record))
        if not records:
            raise CassetteError("%s is empty" % where)
        number, head = records[0]
        _check_version(head.get("ssekit_cassette"), where)
        try:
            request = head["request"]
            response = head.get("response") or {}
            cassette = cls(
                CassetteRequest(
                    str(request.get("method", "GET")),
                    str(request.get("url", "/")),
                    _pairs(request.get("headers")),
                    _read_bytes(request, "body", "body_base64"),
                ),
                int(response.get("status", 200)),
                _pairs(response.get("headers")),
                reason=str(response.get("reason", "")),
                elapsed=float(response.get("elapsed", 0.0)),
                end="cut",
            )
            for number, record in records[1:]:
                if "end" in record:
                    cassette.end = record["end"] if record["end"] in ENDS else "cut"
                elif "text" in record or "base64" in record:
                    cassette.chunks.append(CassetteChunk(float(record.get("t", 0.0)), _read_bytes(record, "text", "base64")))
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
            raise CassetteError("%s, line %d: malformed (%s)" % (where, number, type(exc).__name__)) from None
        return cassette


def _bytes_field(name: str, data: bytes, binary_name: str = "") -> Dict[str, str]:
    """``{name: text}`` when *data* is UTF-8, else ``{binary_name: base64}`` (default ``name_base64``)."""
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {binary_name or name + "_base64": base64.b64encode(data).decode("ascii")}


def _read_bytes(record: Dict[str, Any], name: str, binary_name: str) -> bytes:
    if binary_name in record:
        return base64.b64decode(str(record[binary_name]).encode("ascii"), validate=True)
    value = record.get(name, "")
    if not isinstance(value, str):
        raise TypeError(name)
    return value.encode("utf-8")


def _pairs(value: Any) -> Headers:
    return [(str(name), str(content)) for name, content in (value or [])]


def _check_version(version: Any, where: str) -> None:
    """Accept "1.x" for any x; refuse a file that is no cassette or one of another major version."""
    if not isinstance(version, str):
        raise CassetteError("%s is not an ssekit cassette (its first line has no \"ssekit_cassette\" version)" % where)
    major = version.split(".", 1)[0]
    if major != str(_MAJOR):
        raise CassetteError(
            "%s is a version %s cassette; this ssekit reads version %d.x (upgrade ssekit to read it)"
            % (where, version[:20], _MAJOR)
        )


def _write_atomically(path: PathLike, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    handle, temporary = tempfile.mkstemp(prefix=".cassette-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(temporary, os.fspath(path))
    except BaseException:
        os.unlink(temporary)
        raise


# --- recording, with every secret kept off the disk -------------------------------


def _mask_url(url: str, secrets: Secrets) -> str:
    """*url* with its password and key-like query values replaced by ``[redacted]``, and *secrets* too.

    The rest of the query is kept as it was written (its encoding untouched).
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = "%s:%s@%s" % (parts.username or "", REDACTED, netloc.rpartition("@")[2])
    fields = [field.partition("=") for field in parts.query.split("&")] if parts.query else []
    query = "&".join(
        name + equals + (REDACTED if SECRET_PARAM.search(unquote_plus(name)) else value) for name, equals, value in fields
    )
    return secrets.redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def _mask_headers(headers: Iterable[Tuple[str, str]], secrets: Secrets) -> Headers:
    return [(name, REDACTED if name.lower() in SECRET_HEADERS else secrets.redact(value)) for name, value in headers]


def _redact_chunks(chunks: List[CassetteChunk], secrets: Secrets) -> List[CassetteChunk]:
    """*chunks* with every secret in the joined body replaced, the replacement in the chunk where it started."""
    spans = secrets.find(b"".join(chunk.data for chunk in chunks).decode("latin-1"))
    if not spans:
        return chunks
    redacted = []  # type: List[CassetteChunk]
    start = 0
    for chunk in chunks:
        end = start + len(chunk.data)
        kept = bytearray()
        for position in range(start, end):
            span = next((span for span in spans if span[0] <= position < span[1]), None)
            if span is None:
                kept.append(chunk.data[position - start])
            elif position == span[0]:
                kept.extend(REDACTED.encode("ascii"))
        redacted.append(CassetteChunk(chunk.t, bytes(kept)))
        start = end
    return redacted


class Recorder:
    """Records one response's body into a cassette file as a stream reads it (see :func:`record_answer`).

    The body reader calls :meth:`chunk` for each piece and :meth:`end` when
    the body ends or breaks; :meth:`close` (when the stream is closed)
    writes the file once, whole. Secrets are removed before anything is kept.
    """

    def __init__(self, path: PathLike, response: Any, secrets: Secrets) -> None:
        self.path = path
        self._secrets = secrets
        self._start = time.monotonic()
        self._chunks = []  # type: List[CassetteChunk]
        self._end = "open"
        self._written = False
        self._head = self._cassette_head(response)

    def _cassette_head(self, response: Any) -> Cassette:
        sent = response.request  # the request as it went out: session headers and auth= included
        body = sent.body if sent.body is not None else b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):  # a file or generator body: not kept
            body = b""
        headers = getattr(response.raw, "headers", None)
        pairs = list(getattr(headers, "iteritems", getattr(headers, "items", response.headers.items))())
        request = CassetteRequest(
            str(sent.method),
            _mask_url(str(sent.url), self._secrets),
            _mask_headers(sent.headers.items(), self._secrets),
            self._secrets.redact(body.decode("latin-1")).encode("latin-1"),
        )
        return Cassette(
            request,
            response.status_code,
            _mask_headers(pairs, self._secrets),
            reason=self._secrets.redact(response.reason or ""),
            elapsed=response.elapsed.total_seconds(),
        )

    def chunk(self, data: bytes) -> None:
        """Keep one piece of the body, stamped with its arrival time."""
        self._chunks.append(CassetteChunk(time.monotonic() - self._start, data))

    def end(self, how: str) -> None:
        """The body ended (``"eof"``), broke (``"cut"``) or stalled (``"open"``)."""
        self._end = how

    def close(self) -> None:
        """Write the cassette (once; later calls do nothing)."""
        if self._written:
            return
        self._written = True
        head = self._head
        Cassette(
            head.request, head.status, head.headers, _redact_chunks(self._chunks, self._secrets), self._end,
            reason=head.reason, elapsed=head.elapsed,
        ).save(self.path)


def check_record_path(path: Any) -> None:
    """Refuse a ``record=`` value that is no path, or names a file in a folder that does not exist."""
    if path is None:
        return
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidRequestError("record must be a file path, not %s" % type(path).__name__)
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise InvalidRequestError("record=%s: the folder %s does not exist" % (printable(repr(os.fspath(path)), 200), printable(folder, 200)))


def record_answer(path: PathLike, answer: "Union[EventSource, WholeResult]", secrets: Secrets) -> None:
    """Record *answer* into the cassette at *path*: an event stream as it is read, a whole JSON result at once."""
    recorder = Recorder(path, answer.response, secrets)
    body = getattr(answer, "body", None)
    if isinstance(body, bytes):
        recorder.chunk(body)
        recorder.end("eof")
        recorder.close()
    else:
        answer.tap(recorder)  # type: ignore[union-attr]


def read_chunks(chunks: Iterator[bytes], recorder: Recorder) -> Iterator[bytes]:
    """*chunks* passed through, each shown to *recorder*, and how they ended (a timeout is a stall: ``"open"``)."""
    try:
        for data in chunks:
            recorder.chunk(data)
            yield data
    except StreamTimeoutError:
        recorder.end("open")
        raise
    except Exception:
        recorder.end("cut")
        raise
    recorder.end("eof")
