"""The benchmark's HTTP server: raw sockets, pre-framed responses, one thread per connection.

Run as a subprocess (``python bench/server.py``): it prints its port on the
first line of stdout and serves until its stdin closes. Each response is framed
once, cached, then written with plain ``sendall`` calls, so the server does
almost no work per event (the "drain" client measures its ceiling).

Routes (any method; request bodies are read and ignored; anything after the
fixed segments is ignored too, so SDKs can append ``/chat/completions`` or
``/v1/messages`` to a base URL):

- ``/b/FORMAT/FRAMING/N/PACE_US/TOKEN/...`` streams :func:`streams.build`
  (FORMAT, N). FRAMING is ``large`` (64 KiB chunks: many events per write and
  per TCP segment), ``event`` (one chunk and one write per event), ``close``
  (HTTP/1.0, no length, one write per event, the end of the body is the close)
  or ``gzip`` (chunked, one write per event, each compressed with a sync
  flush). The response head goes out in the same write as the first event.
  With PACE_US > 0, write *i* is sent PACE_US microseconds after write *i-1*
  was due and the send time of every text-carrying event is kept under TOKEN.
- ``/times/TOKEN`` answers those send times (``time.monotonic()``, a clock
  shared by every process of the machine) as a JSON list, once.
- ``/mem/TOTAL_BYTES`` streams chat events in large writes, cycling one block,
  until TOTAL_BYTES have been sent (no memory kept per byte).
- ``/prepare/FORMAT/FRAMING/N`` frames a response ahead of the timed runs.
"""
import json
import os
import socket
import sys
import threading
import time
import zlib
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import streams  # noqa: E402  (bench/ is not a package)

FRAMINGS = ("large", "event", "close", "gzip")
LARGE_CHUNK = 64 * 1024
_CACHE_SIZE = 3
_SSE_HEAD = (
    "Content-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
    "x-request-id: req_bench_0123456789\r\n"
)


def _frame(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


class Framed:
    """A response ready to send: the head and the writes (the first includes the head)."""

    def __init__(self, head: bytes, writes: List[bytes], text_writes: List[bool], close: bool) -> None:
        self.head = head
        self.writes = writes
        self.text_writes = text_writes
        self.close = close


def frame(fmt: str, framing: str, n: int) -> Framed:
    """Build the wire form of stream (*fmt*, *n*) in *framing*."""
    stream = streams.build(fmt, n)
    events, flags = stream.events, stream.text_flags
    close = framing == "close"
    if framing == "large":
        body = stream.body
        writes = [_frame(body[i : i + LARGE_CHUNK]) for i in range(0, len(body), LARGE_CHUNK)]
        flags = [False] * len(writes)
    elif framing == "event":
        writes = [_frame(event) for event in events]
    elif framing == "close":
        writes = list(events)
    elif framing == "gzip":
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        writes = [_frame(compressor.compress(event) + compressor.flush(zlib.Z_SYNC_FLUSH)) for event in events]
        writes[-1] += _frame(compressor.flush())
    else:
        raise ValueError("unknown framing %r" % framing)
    if not close:
        writes[-1] += b"0\r\n\r\n"
    head = _SSE_HEAD
    if close:
        head = "HTTP/1.0 200 OK\r\n" + head + "Connection: close\r\n"
    else:
        head = "HTTP/1.1 200 OK\r\n" + head + "Transfer-Encoding: chunked\r\n"
        if framing == "gzip":
            head += "Content-Encoding: gzip\r\n"
    head += "X-Bench-Body-Bytes: %d\r\n\r\n" % sum(len(w) for w in writes)
    return Framed(head.encode("ascii"), writes, flags, close)


class Server:
    """The listening socket, the response cache and the recorded send times."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._cache = OrderedDict()  # type: OrderedDict[Tuple[str, str, int], Framed]
        self._lock = threading.Lock()
        self._times = {}  # type: Dict[str, List[float]]

    def framed(self, fmt: str, framing: str, n: int) -> Framed:
        key = (fmt, framing, n)
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                found = self._cache[key] = frame(fmt, framing, n)
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(key)
            return found

    def serve_forever(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                request, buffer = _read_request(conn, buffer)
                if request is None or not self._answer(conn, request):
                    return
        except OSError:
            return  # the client left mid-response: its business
        finally:
            conn.close()

    def _answer(self, conn: socket.socket, path: str) -> bool:
        """Send one response; False when the connection must close afterwards."""
        parts = path.split("?", 1)[0].strip("/").split("/")
        route = parts[0]
        if route == "b":
            fmt, framing, n, pace_us, token = parts[1], parts[2], int(parts[3]), int(parts[4]), parts[5]
            return self._stream(conn, self.framed(fmt, framing, n), pace_us, token)
        if route == "prepare":
            self.framed(parts[1], parts[2], int(parts[3]))
            return _send_plain(conn, b"ok")
        if route == "times":
            with self._lock:
                times = self._times.pop(parts[1], [])
            return _send_plain(conn, json.dumps(times).encode(), "application/json")
        if route == "mem":
            return self._memory(conn, int(parts[1]))
        return _send_plain(conn, b"not found", status="404 Not Found")

    def _stream(self, conn: socket.socket, framed: Framed, pace_us: int, token: str) -> bool:
        writes = framed.writes
        if not pace_us:
            conn.sendall(framed.head + writes[0])
            for data in writes[1:]:
                conn.sendall(data)
            return not framed.close
        times = []  # type: List[float]
        with self._lock:  # published before the first write: the client asks once it has the last event
            self._times[token] = times
        due = time.monotonic()
        now = time.monotonic
        for i, data in enumerate(writes):
            if i:
                due += pace_us / 1e6
                delay = due - now()
                if delay > 0:
                    time.sleep(delay)
                else:
                    due = now()  # late (a loaded machine): keep the spacing from here
            if framed.text_writes[i]:
                times.append(now())
            conn.sendall(framed.head + data if i == 0 else data)
        return not framed.close

    def _memory(self, conn: socket.socket, total: int) -> bool:
        block, _ = streams.memory_block()
        frame_ = _frame(block)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\n" + _SSE_HEAD.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        while sent < total:
            conn.sendall(frame_)
            sent += len(block)
        conn.sendall(_frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        return True


def _read_request(conn: socket.socket, buffer: bytes) -> Tuple[Optional[str], bytes]:
    """Read one request (head and Content-Length body); return its path and what follows it."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None, b""
        buffer += data
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(buffer) < length:
        data = conn.recv(65536)
        if not data:
            return None, b""
        buffer += data
    return lines[0].split(" ")[1], buffer[length:]


def _send_plain(conn: socket.socket, body: bytes, content_type: str = "text/plain", status: str = "200 OK") -> bool:
    conn.sendall(
        b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
        % (status.encode(), content_type.encode(), len(body), body)
    )
    return True


def main() -> None:
    server = Server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdout.write("%d\n" % server.port)
    sys.stdout.flush()
    sys.stdin.read()  # serve until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
