"""A real local SSE server for unittest suites: scripted streams, faults, recording.

``SSEServer`` listens on 127.0.0.1 (a free port) in background threads and
answers each request from a script of :class:`ScriptedResponse` objects or
from a route function. Responses can be streamed with any HTTP framing
(chunked, Content-Length, close-delimited), gzip-compressed chunk by chunk,
paced, cut mid-body or stalled, so clients can be tested against the faults
real servers produce. Standard library only.
"""
import email.message
import http.client
import http.server
import json
import re
import socket
import socketserver
import sys
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Pattern, Set, Tuple, Union

from ..errors import SSEKitError

__all__ = ["FRAMINGS", "RecordedRequest", "SSEServer", "ScriptedResponse"]

#: The body framings a :class:`ScriptedResponse` can use.
FRAMINGS = ("chunked", "length", "close")

Chunk = Union[bytes, float]  # bytes to send, or seconds to sleep
ChunkInput = Union[bytes, str, float]  # what ``chunks`` accepts: str is sent as UTF-8
RouteFunction = Callable[["RecordedRequest"], "ScriptedResponse"]

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_JSON_TYPE = "application/json"
_POLL_INTERVAL = 0.01  # seconds between checks for close() in waiting loops (bounds its latency)
_CLOSE_TIMEOUT = 1.0  # the most close() waits for connection threads
_MAX_LINE = 65537  # longest chunk-size or trailer line read from a request body


def _sse_headers() -> Dict[str, str]:
    return dict(_SSE_HEADERS)


@dataclass
class ScriptedResponse:
    """One scripted HTTP response: status, headers, body chunks, framing and faults.

    ``chunks`` items are ``bytes`` written and flushed one by one (``str`` is
    encoded as UTF-8), or numbers meaning "sleep this many seconds here";
    ``interval`` adds a sleep between consecutive byte chunks. ``framing`` is
    ``"chunked"`` (one HTTP chunk per item), ``"length"`` (Content-Length) or
    ``"close"`` (HTTP/1.0 style: the body ends when the server closes).
    ``gzip`` compresses with a sync flush after every chunk, so each chunk can
    be decoded as soon as it arrives.

    Faults: ``cut_after=N`` closes the connection abruptly once N body bytes
    (as sent, after gzip) have been written, or after the whole body if it is
    shorter, always without the chunked terminator; ``stall`` sends nothing
    after the chunks (no terminator, no gzip trailer) and holds the connection
    open until the client leaves or the server closes; ``content_length``
    sends that Content-Length instead of the true one (``"length"`` framing
    only; the connection is closed after the body when it lies).

    Slow heads and tails: ``head_delay`` waits that many seconds before the
    status line; ``drip_head`` sends the head one byte at a time, that many
    seconds apart; ``trailer`` items (bytes, str or sleeps, like ``chunks``)
    are sent as the chunked trailer after the last chunk. (A gateway that
    keeps the connection open after its last event is ``stall``.)
    """

    status: int = 200
    headers: Dict[str, str] = field(default_factory=_sse_headers)
    chunks: List[ChunkInput] = field(default_factory=list)
    interval: float = 0.0
    framing: str = "chunked"
    gzip: bool = False
    cut_after: Optional[int] = None
    stall: bool = False
    content_length: Optional[int] = None
    head_delay: float = 0.0
    drip_head: float = 0.0
    trailer: List[ChunkInput] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.framing not in FRAMINGS:
            raise SSEKitError("framing must be one of %s, not %r" % (", ".join(FRAMINGS), self.framing))
        self.chunks = list(self.chunks)
        self.trailer = list(self.trailer)
        for item in self.chunks + self.trailer:
            _as_chunk(item)  # refuse bad items now, not in the server thread
        if self.trailer and self.framing != "chunked":
            raise SSEKitError('a trailer needs framing="chunked"')
        if self.cut_after is not None and self.stall:
            raise SSEKitError("cut_after and stall exclude each other")
        if self.content_length is not None and self.framing != "length":
            raise SSEKitError('content_length needs framing="length"')
        if not self.has_body and any(isinstance(item, bytes) for item in self.chunks):
            raise SSEKitError("a %d response cannot have a body" % self.status)

    @classmethod
    def sse(
        cls, chunks: Iterable[ChunkInput], headers: Optional[Dict[str, str]] = None, **options: Any
    ) -> "ScriptedResponse":
        """An event stream (``text/event-stream``); *headers* are added to the defaults."""
        return cls(headers=dict(_SSE_HEADERS, **(headers or {})), chunks=list(chunks), **options)

    @classmethod
    def json(
        cls,
        body: Any,
        status: int = 200,
        headers: Optional[Dict[str, str]] = None,
        retry_after: Union[int, float, str, None] = None,
        **options: Any
    ) -> "ScriptedResponse":
        """A JSON answer (an error, a non-streamed result); ``str``/``bytes`` bodies go out as is.

        *retry_after* adds a ``Retry-After`` header: seconds, or a string such as an HTTP date.
        """
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        all_headers = {"Content-Type": _JSON_TYPE}
        if retry_after is not None:
            all_headers["Retry-After"] = str(retry_after)
        all_headers.update(headers or {})
        options.setdefault("framing", "length")
        return cls(status=status, headers=all_headers, chunks=[body], **options)

    @classmethod
    def text(
        cls, body: Union[str, bytes], status: int = 200, content_type: str = "text/html; charset=utf-8", **options: Any
    ) -> "ScriptedResponse":
        """A plain body (HTML error pages from proxies, a wrong content type)."""
        options.setdefault("framing", "length")
        return cls(status=status, headers={"Content-Type": content_type}, chunks=[body], **options)

    @property
    def has_body(self) -> bool:
        """False for statuses that never carry a body (1xx, 204, 304)."""
        return not (100 <= self.status < 200 or self.status in (204, 304))

    def wire_body(self) -> Iterator[Chunk]:
        """The body as it goes on the wire: byte pieces (compressed if gzip) and sleeps.

        Made as it is sent, so a large compressed body does not hold back the head.
        """
        compressor = zlib.compressobj(wbits=31) if self.gzip else None
        wrote = False
        for item in map(_as_chunk, self.chunks):
            if isinstance(item, float):
                yield item
                continue
            if wrote and self.interval:
                yield float(self.interval)
            wrote = True
            if compressor is not None:
                item = compressor.compress(item) + compressor.flush(zlib.Z_SYNC_FLUSH)
            yield item
        if compressor is not None and not self.stall:
            yield compressor.flush()


def _as_chunk(item: Any) -> Chunk:
    """A ``chunks`` item as bytes to send or float seconds to sleep; str is encoded as UTF-8."""
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, (int, float)) and not isinstance(item, bool) and item >= 0:
        return float(item)
    raise SSEKitError("chunks items must be bytes, str or seconds >= 0, not %r" % (item,))


@dataclass
class RecordedRequest:
    """One request as the server received it.

    ``path`` is the request target without the query string; ``query`` is the
    raw query string (``""`` if none; parse it with ``urllib.parse.parse_qs``);
    ``headers`` is an ``email.message.Message`` (case-insensitive
    ``headers["x-api-key"]`` / ``.get()``); ``body`` is the full request body;
    ``params`` holds what the ``{name}`` placeholders of the route's path matched.
    """

    method: str
    path: str
    query: str
    headers: email.message.Message = field(repr=False)
    body: bytes = field(repr=False)
    params: Dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON, or None if it is empty, not valid JSON, or nested too deep to parse."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, RecursionError):
            return None


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _path_pattern(path: str) -> "Optional[Pattern[str]]":
    """A route path with ``{name}`` placeholders as a regex (each matches one or more characters but ``/``)."""
    if not _PLACEHOLDER.search(path):
        return None
    pieces = _PLACEHOLDER.split(path)  # literal, name, literal, name, ..., literal
    regex = "".join(re.escape(piece) if number % 2 == 0 else "(?P<%s>[^/]+?)" % piece for number, piece in enumerate(pieces))
    return re.compile(regex + r"\Z")


def _not_found(request: RecordedRequest) -> ScriptedResponse:
    message = "no route for %s %s" % (request.method, request.path)
    return ScriptedResponse.json({"error": {"message": message, "type": "not_found"}}, status=404)


class _Route:
    """A path's answers: a queue of scripted responses (the last repeats) or a function."""

    def __init__(self, responses: Tuple[ScriptedResponse, ...] = (), handler: Optional[RouteFunction] = None) -> None:
        self.queue = deque(responses)  # type: Deque[ScriptedResponse]
        self.handler = handler

    def next_scripted(self) -> ScriptedResponse:
        """Pop the next queued response, keeping the last one for every later request."""
        return self.queue.popleft() if len(self.queue) > 1 else self.queue[0]


class _HTTPServer(http.server.HTTPServer):
    """The socket server under :class:`SSEServer`: one tracked daemon thread per connection."""

    request_queue_size = 64

    def __init__(self, owner: "SSEServer", address: Tuple[str, int]) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can take seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="ssekit-sse-connection"
        )
        thread.daemon = True
        self.owner._track(request, thread)
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.owner._forget(request)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that vanishes (or a cut we made) is routine here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Reads each request fully, records it, and writes the scripted response."""

    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "ssekit-testing"
    disable_nagle_algorithm = True  # every small write leaves at once

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def version_string(self) -> str:
        """The Server header: no Python version."""
        return self.server_version

    def _answer(self) -> None:
        """Any method: read and record the request, then send its scripted response."""
        owner = self.server.owner
        self._head_plan = (0.0, 0.0)
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "Malformed request body framing")
            return
        request = RecordedRequest(self.command, path, query, self.headers, body)
        owner._record(request)
        self._send(owner._response_for(request))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked_body()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self._read_exactly(length)

    def _read_chunked_body(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline(_MAX_LINE).split(b";", 1)[0], 16)
            if not size:
                break
            parts.append(self._read_exactly(size))
            self._read_exactly(2)  # the CRLF after each chunk
        while self.rfile.readline(_MAX_LINE).strip():
            pass  # trailer fields, up to the blank line
        return b"".join(parts)

    def _read_exactly(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) < size:
            raise ConnectionAbortedError("client left in the middle of its request body")
        return data

    def _send(self, response: ScriptedResponse) -> None:
        body = response.wire_body() if response.has_body else iter(())  # type: Iterable[Chunk]
        length = 0
        if response.framing == "length":  # the head declares the length: the body is made first
            body = list(body)
            length = sum(len(item) for item in body if isinstance(item, bytes))
        if response.framing == "close":
            self.protocol_version = "HTTP/1.0"  # this connection ends with this response
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.has_body and response.framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        elif response.has_body and response.framing == "length":
            declared = length if response.content_length is None else response.content_length
            self.send_header("Content-Length", str(declared))
            if declared != length:
                self.close_connection = True  # the framing is broken: never reuse it
        if response.gzip:
            self.send_header("Content-Encoding", "gzip")
        if response.framing == "close":
            self.send_header("Connection", "close")
        self._head_plan = (response.head_delay, response.drip_head)
        self.end_headers()
        if response.has_body:
            self._send_body(response, body)

    def flush_headers(self) -> None:
        """Send the buffered head, late or a byte at a time when the script says so."""
        delay, drip = getattr(self, "_head_plan", (0.0, 0.0))
        if not (delay or drip):
            super().flush_headers()
            return
        head = b"".join(getattr(self, "_headers_buffer", []))
        self._headers_buffer = []  # type: List[bytes]
        closing = self.server.owner._closing
        if delay and closing.wait(delay):
            return
        for index in range(len(head)) if drip else ():
            self.wfile.write(head[index : index + 1])
            if closing.wait(drip):
                return
        if not drip:
            self.wfile.write(head)

    def _send_body(self, response: ScriptedResponse, body: Iterable[Chunk]) -> None:
        chunked = response.framing == "chunked"
        cut = response.cut_after
        sent = 0
        for item in body:
            if isinstance(item, float):
                if self.server.owner._closing.wait(item):
                    self.close_connection = True
                    return
                continue
            if cut is not None and sent + len(item) > cut:
                self._write(item[: cut - sent], chunked, announced=len(item))
                break
            self._write(item, chunked)
            sent += len(item)
        if cut is not None:
            self._cut()
        elif response.stall:
            self._wait_for_disconnect()
        elif chunked:
            self.wfile.write(b"0\r\n")
            for item in map(_as_chunk, response.trailer):
                if isinstance(item, float):
                    if self.server.owner._closing.wait(item):
                        self.close_connection = True
                        return
                else:
                    self.wfile.write(item)
            self.wfile.write(b"\r\n")

    def _write(self, data: bytes, chunked: bool, announced: Optional[int] = None) -> None:
        """Send one piece at once; chunked, it is one HTTP chunk, cut short if *announced* is larger."""
        if not data:
            return  # nothing to send, and an empty HTTP chunk would end the body
        if chunked:
            data = b"%X\r\n" % (announced or len(data)) + data + (b"" if announced else b"\r\n")
        self.wfile.write(data)  # unbuffered: one sendall

    def _cut(self) -> None:
        """Close the connection abruptly, as a server dying mid-response does."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _wait_for_disconnect(self) -> None:
        """Send nothing until the client goes away or the server closes."""
        self.close_connection = True
        self.connection.settimeout(_POLL_INTERVAL)
        while not self.server.owner._closing.is_set():
            try:
                if not self.connection.recv(65536):
                    return
            except socket.timeout:
                pass


class SSEServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (IPv4) answering with scripted SSE responses.

    Use it as a context manager or call :meth:`start` / :meth:`close`
    (e.g. in setUpClass / tearDownClass). Queue answers with :meth:`script`,
    add dynamic ones with :meth:`route`; every request lands in
    :attr:`requests`, every accepted TCP connection in :attr:`connection_count`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        #: Every request received, in arrival order.
        self.requests = []  # type: List[RecordedRequest]
        #: Exceptions raised by route functions (each answered with a 500).
        self.route_errors = []  # type: List[Exception]
        #: How many TCP connections were accepted (keep-alive reuse keeps it low).
        self.connection_count = 0
        self._routes = {}  # type: Dict[str, _Route]
        self._patterns = {}  # type: Dict[str, Pattern[str]]  # the routes whose path has placeholders
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._connections = set()  # type: Set[socket.socket]
        self._threads = []  # type: List[threading.Thread]
        self._httpd = None  # type: Optional[_HTTPServer]
        self._thread = None  # type: Optional[threading.Thread]

    def __repr__(self) -> str:
        state = "closed" if self._closing.is_set() else "running" if self._httpd else "not started"
        return "<SSEServer %s:%d %s>" % (self.host, self.port, state)

    def __enter__(self) -> "SSEServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def start(self) -> "SSEServer":
        """Bind the port and serve in a background thread; returns the server."""
        if self._httpd is not None or self._closing.is_set():
            raise SSEKitError("an SSEServer can be started only once")
        try:
            self._httpd = _HTTPServer(self, (self.host, self.port))
        except OSError as exc:
            raise SSEKitError("SSEServer cannot listen on %s:%d: %s" % (self.host, self.port, exc)) from exc
        self.port = self._httpd.server_port
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": _POLL_INTERVAL}, name="ssekit-sse-server"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving: wake every handler, close every connection, join every thread.

        Returns promptly even while responses are stalled or sleeping (a route
        function still running after a second is left to finish in its daemon
        thread). Safe to call twice.
        """
        if self._closing.is_set():
            return
        self._closing.set()  # wakes sleeping and stalled handlers
        if self._httpd is None or self._thread is None:
            return
        self._httpd.shutdown()  # no new connections from here on
        self._httpd.server_close()
        self._thread.join()
        with self._lock:
            for sock in self._connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes blocked reads and writes
                except OSError:
                    pass
            threads = list(self._threads)
        deadline = time.monotonic() + _CLOSE_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def url(self, path: str = "/") -> str:
        """The absolute URL of *path* on this server, e.g. ``http://127.0.0.1:PORT/v1/chat``."""
        if self._httpd is None:
            raise SSEKitError("start the SSEServer before asking for its URL")
        return "http://%s:%d/%s" % (self.host, self.port, path.lstrip("/"))

    def script(self, path: str, *responses: ScriptedResponse) -> None:
        """Answer requests to *path* (any method) with *responses* in turn; the last one repeats.

        A ``{name}`` in *path* matches any text but ``/`` (``/models/{model}:generate``);
        the request's ``params`` tell what it matched. An exact path wins over a pattern.
        """
        if not responses:
            raise SSEKitError("script() needs at least one response")
        self._add_route(path, _Route(responses=responses))

    def route(self, path: str, handler: RouteFunction) -> None:
        """Answer requests to *path* (placeholders as in :meth:`script`) with ``handler(request)``, a :class:`ScriptedResponse`."""
        self._add_route(path, _Route(handler=handler))

    def _add_route(self, path: str, route: _Route) -> None:
        pattern = _path_pattern(path)
        with self._lock:
            self._routes[path] = route
            if pattern is not None:
                self._patterns[path] = pattern

    def _find_route(self, request: RecordedRequest) -> Optional[_Route]:
        """The route of *request*'s path: exact, else the first pattern that matches (its params set on *request*)."""
        route = self._routes.get(request.path)
        if route is not None:
            return route
        for path, pattern in self._patterns.items():
            match = pattern.match(request.path)
            if match:
                request.params = match.groupdict()
                return self._routes[path]
        return None

    def _track(self, sock: socket.socket, thread: threading.Thread) -> None:
        with self._lock:
            self.connection_count += 1
            self._connections.add(sock)
            self._threads = [other for other in self._threads if other.is_alive()]
            self._threads.append(thread)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.discard(sock)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _response_for(self, request: RecordedRequest) -> ScriptedResponse:
        with self._lock:
            route = self._find_route(request)
            if route is None:
                return _not_found(request)
            if route.handler is None:
                return route.next_scripted()
        try:
            response = route.handler(request)
            if not isinstance(response, ScriptedResponse):
                raise TypeError("route function returned %r, not a ScriptedResponse" % (response,))
        except Exception as exc:
            with self._lock:
                self.route_errors.append(exc)
            error = {"message": "%s: %s" % (type(exc).__name__, exc), "type": "server_error"}
            return ScriptedResponse.json({"error": error}, status=500)
        return response
