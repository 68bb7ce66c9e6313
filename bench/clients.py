"""The benchmark's clients, run in a fresh process by ``bench/run.py``.

``python bench/clients.py JOBS_JSON`` runs each job (a dict: client, base URL,
path, format, latency token...) and prints one JSON line per job: CPU seconds
and wall seconds of the streaming part only (imports and client objects are
set up first, untimed), peak RSS, the result in :func:`streams.digest` form,
and for paced runs the hand-off latency of every text-carrying event.

Every client hands each piece of text to a *sink* as soon as it has it (the
moment a real program would print it) and ends with the full result: text,
tool calls, usage, finish reason. The parse-only clients (floor,
``requests.iter_lines``, ssekit ``iter_sse``, httpx-sse, sseclient-py) share
one hand-written :func:`extractor` per format, so they differ only in how
events are read and split.
"""
import json
import os
import socket
import sys
import time
import zlib
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # bench/, then this checkout's ssekit before any installed one
import streams  # noqa: E402  (bench/ is not a package)

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore

Sink = Callable[[str], Any]
# (text, or None when the sink collected it; tool calls (id, name, arguments); (input, output) tokens; finish)
Result = Tuple[Optional[str], List[Tuple[Any, Any, str]], Tuple[Any, Any], Any]
Run = Callable[[], Result]


class Skip(Exception):
    """The client cannot run here (an optional package is missing); the message says why."""


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise Skip("%s is not installed (pip install %s)" % (module, module.replace("_", "-"))) from None


# --- the shared hand-written extraction: one decoded JSON object at a time --------


class Extracted:
    """What a hand-written client collects: text pieces go to the sink, the rest here."""

    def __init__(self) -> None:
        self.calls = {}  # type: Dict[int, List[Any]]  # index -> [id, name, [fragments]]
        self.usage = (None, None)  # type: Tuple[Any, Any]
        self.finish = None  # type: Any

    def result(self) -> Result:
        calls = [(c[0], c[1], "".join(c[2])) for _, c in sorted(self.calls.items())]
        return None, calls, self.usage, self.finish


def extractor(fmt: str, sink: Sink, out: Extracted) -> Callable[[Dict[str, Any]], None]:
    """The least code that rebuilds the answer of format *fmt* from decoded events."""
    calls = out.calls
    if fmt in ("chat", "tools"):

        def feed(obj: Dict[str, Any]) -> None:
            for choice in obj["choices"]:
                delta = choice["delta"]
                content = delta.get("content")
                if content:
                    sink(content)
                fragments = delta.get("tool_calls")
                if fragments:
                    for fragment in fragments:
                        call = calls.get(fragment["index"])
                        function = fragment["function"]
                        if call is None:
                            calls[fragment["index"]] = [fragment["id"], function["name"], [function["arguments"]]]
                        else:
                            call[2].append(function["arguments"])
                if choice["finish_reason"]:
                    out.finish = choice["finish_reason"]
            usage = obj.get("usage")
            if usage:
                out.usage = (usage["prompt_tokens"], usage["completion_tokens"])

    elif fmt == "messages":

        def feed(obj: Dict[str, Any]) -> None:
            kind = obj["type"]
            if kind == "content_block_delta":
                delta = obj["delta"]
                if delta["type"] == "text_delta":
                    sink(delta["text"])
                else:
                    calls[obj["index"]][2].append(delta["partial_json"])
            elif kind == "content_block_start":
                block = obj["content_block"]
                if block["type"] == "tool_use":
                    calls[obj["index"]] = [block["id"], block["name"], []]
            elif kind == "message_start":
                out.usage = (obj["message"]["usage"]["input_tokens"], None)
            elif kind == "message_delta":
                out.finish = obj["delta"]["stop_reason"]
                out.usage = (out.usage[0], obj["usage"]["output_tokens"])
            elif kind == "error":
                raise RuntimeError(obj)

    elif fmt == "responses":

        def feed(obj: Dict[str, Any]) -> None:
            kind = obj["type"]
            if kind == "response.output_text.delta":
                sink(obj["delta"])
            elif kind == "response.completed":
                response = obj["response"]
                out.usage = (response["usage"]["input_tokens"], response["usage"]["output_tokens"])
                out.finish = response["status"]
            elif kind in ("error", "response.failed"):
                raise RuntimeError(obj)

    elif fmt == "cohere":

        def feed(obj: Dict[str, Any]) -> None:
            kind = obj["type"]
            if kind == "content-delta":
                sink(obj["delta"]["message"]["content"]["text"])
            elif kind == "tool-call-delta":
                calls[obj["index"]][2].append(obj["delta"]["message"]["tool_calls"]["function"]["arguments"])
            elif kind == "tool-call-start":
                call = obj["delta"]["message"]["tool_calls"]
                calls[obj["index"]] = [call["id"], call["function"]["name"], []]
            elif kind == "message-end":
                delta = obj["delta"]
                out.finish = delta["finish_reason"]
                out.usage = (delta["usage"]["tokens"]["input_tokens"], delta["usage"]["tokens"]["output_tokens"])

    elif fmt == "gemini":

        def feed(obj: Dict[str, Any]) -> None:
            for candidate in obj.get("candidates") or ():
                for part in candidate["content"]["parts"]:
                    text = part.get("text")
                    if text and not part.get("thought"):
                        sink(text)
                if candidate.get("finishReason"):
                    out.finish = candidate["finishReason"]
            usage = obj.get("usageMetadata")
            if usage:
                out.usage = (usage["promptTokenCount"], usage.get("candidatesTokenCount"))
            if "error" in obj:
                raise RuntimeError(obj)

    else:
        raise ValueError(fmt)
    return feed


# --- raw sockets: the drain and the floor -----------------------------------------


def _raw_request(job: Dict[str, Any]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", job["port"]))
    body = json.dumps(streams.request_body(job["format"])).encode()
    sock.sendall(
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\nAccept-Encoding: gzip\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (job["path"].encode(), job["port"], len(body), body)
    )
    return sock


def _recv_all(sock: socket.socket, first: bytes) -> Iterator[bytes]:
    if first:
        yield first
    recv = sock.recv
    while True:
        data = recv(262144)
        if not data:
            return
        yield data


def _dechunk(source: Iterator[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer coding, undone with bytes operations."""
    buf = b""
    left = 0  # chunk data bytes still to come
    crlf = 0  # bytes of the CRLF after the chunk data still to skip
    for data in source:
        buf += data
        end = len(buf)
        pos = 0
        out = []
        while pos < end:
            if left:
                take = min(left, end - pos)
                out.append(buf[pos : pos + take])
                pos += take
                left -= take
                if left:
                    break
                crlf = 2
            if crlf:
                take = min(crlf, end - pos)
                pos += take
                crlf -= take
                if crlf:
                    break
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                break
            left = int(buf[pos:line_end], 16)
            pos = line_end + 2
            if not left:
                if out:
                    yield b"".join(out)
                return
        buf = buf[pos:]
        if out:
            yield out[0] if len(out) == 1 else b"".join(out)


def _gunzip(source: Iterator[bytes]) -> Iterator[bytes]:
    decompressor = zlib.decompressobj(31)
    for data in source:
        data = decompressor.decompress(data)
        if data:
            yield data


def _read_head(sock: socket.socket) -> Tuple[bytes, bytes]:
    """The response head (without its blank line) and the body bytes that came with it."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("the server closed before the response head")
        head += data
    head, _, rest = head.partition(b"\r\n\r\n")
    return head, rest


def raw_body(sock: socket.socket) -> Iterator[bytes]:
    """The decoded body of the response on *sock*, each piece as soon as it was received."""
    head, rest = _read_head(sock)
    lines = head.decode("latin-1").lower().split("\r\n")
    if lines[0].split(" ")[1] != "200":
        raise RuntimeError("HTTP status %s" % lines[0])
    body = _recv_all(sock, rest)
    if "transfer-encoding: chunked" in lines:
        body = _dechunk(body)
    if "content-encoding: gzip" in lines:
        body = _gunzip(body)
    return body


def client_drain(job: Dict[str, Any], sink: Sink) -> Run:
    """Reads the bytes and nothing else: the server's ceiling."""

    def run() -> Result:
        with _raw_request(job) as sock:
            head, rest = _read_head(sock)
            announced = int(head.split(b"X-Bench-Body-Bytes: ")[1].split(b"\r\n")[0])
            total = len(rest)
            recv = sock.recv
            while total < announced:
                data = recv(262144)
                if not data:
                    break
                total += len(data)
        if total != announced:
            raise RuntimeError("drained %d body bytes, the server sent %d" % (total, announced))
        return "", [], (None, None), "drained"

    return run


def floor_split(chunks: Iterable[bytes], separator: bytes, loads: Callable[[str], Any], feed: Callable[[Any], Any]) -> None:
    """The floor's event loop: ``bytes.split`` on *separator*, each block's ``data:`` decoded, ``feed(loads(data))``.

    Shared by the HTTP floor and bench/instructions.py (which passes ``str`` and
    ``list.append`` to count the split alone).
    """
    buf = b""
    for data in chunks:
        buf += data
        blocks = buf.split(separator)
        buf = blocks.pop()
        for block in blocks:
            if block[:6] == b"data: ":
                data = block[6:]
            else:
                start = block.find(b"\ndata: ")
                if start < 0:
                    continue
                data = block[start + 7 :]
            if data != b"[DONE]":
                feed(loads(data.decode()))


def client_floor(job: Dict[str, Any], sink: Sink) -> Run:
    """The least a pure-Python client can do: raw socket, bytes split, json.loads, extraction."""

    def run() -> Result:
        out = Extracted()
        feed = extractor(job["format"], sink, out)
        with _raw_request(job) as sock:
            floor_split(raw_body(sock), streams.SEPARATORS.get(job["format"], b"\n\n"), json.loads, feed)
        return out.result()

    return run


# --- parsers over requests and httpx ----------------------------------------------


def client_requests_iter_lines(job: Dict[str, Any], sink: Sink) -> Run:
    """``requests`` ``iter_lines()`` with the defaults a script uses, then json.loads."""
    requests = _require("requests")
    session = requests.Session()
    loads = json.loads

    def run() -> Result:
        out = Extracted()
        feed = extractor(job["format"], sink, out)
        body = streams.request_body(job["format"])
        with session.post(job["url"], json=body, stream=True, headers={"Accept": "text/event-stream"}) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line[:6] == b"data: ":
                    data = line[6:]
                    if data != b"[DONE]":
                        feed(loads(data.decode()))
        return out.result()

    return run


def client_ssekit_iter_sse(job: Dict[str, Any], sink: Sink) -> Run:
    """ssekit ``connect_sse`` + ``iter_sse()`` for the events, the shared extraction for the rest."""
    requests = _require("requests")
    import ssekit
    session = requests.Session()
    loads = json.loads

    def run() -> Result:
        out = Extracted()
        feed = extractor(job["format"], sink, out)
        with ssekit.connect_sse(session, "POST", job["url"], json=streams.request_body(job["format"])) as source:
            for sse in source.iter_sse():
                data = sse.data
                if data != "[DONE]":
                    feed(loads(data))
        return out.result()

    return run


_ACCUMULATORS = {"chat": "chat_completions", "tools": "chat_completions", "messages": "messages", "responses": "responses",
                 "cohere": "cohere", "gemini": "gemini"}  # fmt: skip


def _completion_result(completion: Any) -> Result:
    calls = [(call.id, call.name, call.arguments) for call in completion.tool_calls]
    usage = completion.usage
    return completion.text, calls, (usage.input_tokens, usage.output_tokens), completion.finish_reason


def client_ssekit_accumulate(job: Dict[str, Any], sink: Sink) -> Run:
    """ssekit ``iter_sse()`` into the format's accumulator: text deltas live, then the Completion."""
    requests = _require("requests")
    import ssekit
    from ssekit.formats import FORMATS

    session = requests.Session()
    accumulator_class = FORMATS[_ACCUMULATORS[job["format"]]].accumulator

    def run() -> Result:
        accumulator = accumulator_class()
        add = accumulator.add
        with ssekit.connect_sse(session, "POST", job["url"], json=streams.request_body(job["format"])) as source:
            for sse in source.iter_sse():
                delta = add(sse)
                if delta:
                    sink(delta)
        return _completion_result(accumulator.finish())

    return run


def client_ssekit_stream_completion(job: Dict[str, Any], sink: Sink) -> Run:
    """``ssekit.stream_completion`` (format auto-detected, retries armed): the one-call API."""
    requests = _require("requests")
    import ssekit
    try:
        stream_completion = ssekit.stream_completion
    except (AttributeError, ImportError) as exc:
        raise Skip("ssekit.stream_completion is not available (%s)" % exc) from None
    session = requests.Session()

    def run() -> Result:
        with stream_completion(job["url"], json=streams.request_body(job["format"]), session=session) as stream:
            for delta in stream:
                sink(delta)
        return _completion_result(stream.completion)

    return run


def client_ssekit_updates(job: Dict[str, Any], sink: Sink) -> Run:
    """``stream_completion(...).updates()``: the typed progress records (text, tool calls with arguments so far...)."""
    requests = _require("requests")
    import ssekit

    if not hasattr(ssekit.CompletionStream, "updates"):
        raise Skip("CompletionStream.updates() is not available in this ssekit")
    session = requests.Session()

    def run() -> Result:
        with ssekit.stream_completion(job["url"], json=streams.request_body(job["format"]), session=session) as stream:
            for update in stream.updates():
                if update.kind == "text":
                    sink(update.text)
        return _completion_result(stream.completion)

    return run


def client_httpx_sse(job: Dict[str, Any], sink: Sink) -> Run:
    """httpx + httpx-sse ``connect_sse`` / ``iter_sse()``, the shared extraction."""
    httpx = _require("httpx")
    httpx_sse = _require("httpx_sse")
    client = httpx.Client(timeout=60)
    loads = json.loads

    def run() -> Result:
        out = Extracted()
        feed = extractor(job["format"], sink, out)
        with httpx_sse.connect_sse(client, "POST", job["url"], json=streams.request_body(job["format"])) as source:
            for sse in source.iter_sse():
                data = sse.data
                if data != "[DONE]":
                    feed(loads(data))
        return out.result()

    return run


def client_sseclient(job: Dict[str, Any], sink: Sink) -> Run:
    """sseclient-py over a streaming ``requests`` response, as its README shows."""
    requests = _require("requests")
    try:
        import sseclient
    except ImportError:
        raise Skip("sseclient-py is not installed (pip install sseclient-py)") from None
    session = requests.Session()
    loads = json.loads

    def run() -> Result:
        out = Extracted()
        feed = extractor(job["format"], sink, out)
        body = streams.request_body(job["format"])
        with session.post(job["url"], json=body, stream=True, headers={"Accept": "text/event-stream"}) as response:
            response.raise_for_status()
            for event in sseclient.SSEClient(response).events():
                data = event.data
                if data != "[DONE]":
                    feed(loads(data))
        return out.result()

    return run


# --- the vendors' SDKs -----------------------------------------------------------------


def _openai_client(job: Dict[str, Any]) -> Any:
    if job["format"] not in ("chat", "tools", "responses"):
        raise Skip("the openai SDK does not read %s streams" % job["format"])
    openai = _require("openai")
    return openai.OpenAI(base_url=job["url"] + "/v1", api_key="sk-bench-not-a-key", max_retries=0)


def _usage_pair(usage: Any, input_name: str, output_name: str) -> Tuple[Any, Any]:
    return (getattr(usage, input_name), getattr(usage, output_name)) if usage else (None, None)


def client_openai(job: Dict[str, Any], sink: Sink) -> Run:
    """openai SDK ``create(stream=True)``: iterate the chunk objects (Responses: the event objects)."""
    client = _openai_client(job)
    messages = [{"role": "user", "content": "Hi"}]

    def chat() -> Result:
        calls = {}  # type: Dict[int, List[Any]]
        usage = finish = None
        stream = client.chat.completions.create(
            model=streams.CHAT_MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content:
                    sink(delta.content)
                for fragment in delta.tool_calls or ():
                    call = calls.setdefault(fragment.index, [None, None, []])
                    call[0] = call[0] or fragment.id
                    if fragment.function:
                        call[1] = call[1] or fragment.function.name
                        call[2].append(fragment.function.arguments or "")
                if choice.finish_reason:
                    finish = choice.finish_reason
            if chunk.usage:
                usage = chunk.usage
        tool_calls = [(c[0], c[1], "".join(c[2])) for _, c in sorted(calls.items())]
        return None, tool_calls, _usage_pair(usage, "prompt_tokens", "completion_tokens"), finish

    def responses() -> Result:
        usage = finish = None
        for event in client.responses.create(model=streams.CHAT_MODEL, input="Hi", stream=True):
            if event.type == "response.output_text.delta":
                sink(event.delta)
            elif event.type == "response.completed":
                usage, finish = event.response.usage, event.response.status
        return None, [], _usage_pair(usage, "input_tokens", "output_tokens"), finish

    return responses if job["format"] == "responses" else chat


def client_openai_stream(job: Dict[str, Any], sink: Sink) -> Run:
    """openai SDK ``.stream()`` helpers: typed events and an accumulated snapshot of the answer."""
    client = _openai_client(job)
    messages = [{"role": "user", "content": "Hi"}]
    helper = getattr(client.chat.completions, "stream", None)
    if helper is None:  # openai 1.x before the helper left beta
        helper = getattr(getattr(getattr(client, "beta", None), "chat", None), "completions", None)
        helper = getattr(helper, "stream", None)
    if helper is None and job["format"] != "responses":
        raise Skip("this openai version has no chat.completions.stream() helper")

    def chat() -> Result:
        assert helper is not None
        with helper(model=streams.CHAT_MODEL, messages=messages, stream_options={"include_usage": True}) as stream:
            for event in stream:
                if event.type == "content.delta" and event.delta:
                    sink(event.delta)
            final = stream.get_final_completion()
        choice = final.choices[0]
        calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or ()]
        return None, calls, _usage_pair(final.usage, "prompt_tokens", "completion_tokens"), choice.finish_reason

    def responses() -> Result:
        with client.responses.stream(model=streams.CHAT_MODEL, input="Hi") as stream:
            for event in stream:
                if event.type == "response.output_text.delta":
                    sink(event.delta)
            final = stream.get_final_response()
        return None, [], _usage_pair(final.usage, "input_tokens", "output_tokens"), final.status

    return responses if job["format"] == "responses" else chat


def client_anthropic_stream(job: Dict[str, Any], sink: Sink) -> Run:
    """anthropic SDK ``messages.stream()``: ``text_stream``, then ``get_final_message()``."""
    if job["format"] != "messages":
        raise Skip("the anthropic SDK reads Messages streams only")
    anthropic = _require("anthropic")
    client = anthropic.Anthropic(base_url=job["url"], api_key="sk-ant-bench-not-a-key", max_retries=0)

    def run() -> Result:
        messages = [{"role": "user", "content": "Hi"}]
        with client.messages.stream(model=streams.CLAUDE_MODEL, max_tokens=1024, messages=messages) as stream:
            for text in stream.text_stream:
                sink(text)
            final = stream.get_final_message()
        calls = [(b.id, b.name, json.dumps(b.input)) for b in final.content if b.type == "tool_use"]
        return None, calls, _usage_pair(final.usage, "input_tokens", "output_tokens"), final.stop_reason

    return run


CLIENTS = {
    "drain": client_drain,
    "floor": client_floor,
    "requests-iter_lines": client_requests_iter_lines,
    "ssekit-iter_sse": client_ssekit_iter_sse,
    "ssekit-accumulate": client_ssekit_accumulate,
    "ssekit-stream_completion": client_ssekit_stream_completion,
    "ssekit-updates": client_ssekit_updates,
    "httpx-sse": client_httpx_sse,
    "sseclient-py": client_sseclient,
    "openai": client_openai,
    "openai-stream": client_openai_stream,
    "anthropic-stream": client_anthropic_stream,
}  # type: Dict[str, Callable[[Dict[str, Any], Sink], Run]]


# --- running jobs ----------------------------------------------------------------------


def peak_rss_kb() -> Optional[int]:
    """Peak resident set size of this process in KiB (None where unknown).

    Linux's ``VmHWM`` first: ``ru_maxrss`` of a process started by fork and
    exec counts the parent's RSS at the fork (run.py's, not the client's).
    """
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        pass
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def current_rss_kb() -> Optional[int]:
    """Current resident set size in KiB, from /proc where there is one."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, AttributeError):
        return peak_rss_kb()


def _send_times(job: Dict[str, Any]) -> List[float]:
    """The server's send time of every text-carrying event of this job's paced stream."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", job["port"], timeout=30)
    try:
        conn.request("GET", "/times/%s" % job["token"])
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def run_job(job: Dict[str, Any]) -> Dict[str, Any]:
    """Set the client up, time its run, check nothing here: run.py compares the digest."""
    report = {"client": job["client"], "format": job["format"]}  # type: Dict[str, Any]
    parts = []  # type: List[str]
    stamps = []  # type: List[float]
    sink = parts.append  # type: Sink
    if job.get("token"):
        now = time.monotonic
        append, stamp = parts.append, stamps.append

        def stamped(piece: str) -> None:
            append(piece)
            stamp(now())

        sink = stamped
    try:
        run = CLIENTS[job["client"]](job, sink)
        if job.get("warm"):  # one untimed run first: a JIT's steady state, not its warm-up
            run()
            del parts[:], stamps[:]
        cpu, wall = time.process_time(), time.perf_counter()
        text, calls, usage, finish = run()
        report["cpu"] = time.process_time() - cpu
        report["wall"] = time.perf_counter() - wall
    except Skip as exc:
        report["skip"] = str(exc)
        return report
    except Exception as exc:  # a crash is a reported failure, never a timing
        report["error"] = "%s: %s" % (type(exc).__name__, str(exc)[:300])
        return report
    report["rss_kb"] = peak_rss_kb()
    if job["client"] != "drain":
        joined = "".join(parts)
        if text is not None and joined != text:
            report["error"] = "the text handed out live (%d chars) differs from the final text (%d chars)" % (len(joined), len(text))
        report["result"] = streams.digest(joined if text is None else text, calls, usage, finish)
    if job.get("token"):
        times = _send_times(job)
        if len(times) != len(stamps):
            report["error"] = "%d text hand-offs for %d text events sent" % (len(stamps), len(times))
        report["latency_ms"] = [round((got - sent) * 1000, 4) for sent, got in zip(times, stamps)]
    return report


def memory_job(job: Dict[str, Any]) -> Dict[str, Any]:
    """Decode a huge stream with ssekit without accumulating: count events, report peak RSS."""
    import requests
    import ssekit

    session = requests.Session()
    count = 0
    cpu = time.process_time()
    with ssekit.connect_sse(session, "GET", job["url"]) as source:
        for _ in source.iter_sse():
            count += 1
    return {"client": "ssekit-iter_sse", "events": count, "cpu": time.process_time() - cpu, "rss_kb": peak_rss_kb()}


def soak_job(job: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """Stream completions back to back for job["seconds"]; yield RSS, fds and threads every interval."""
    import threading

    import requests
    import ssekit

    session = requests.Session()
    body = streams.request_body("chat")
    expected = streams.build("chat", job["n"]).expected
    start = last = time.monotonic()
    count = 0
    while True:
        with ssekit.stream_completion(job["url"], json=body, session=session) as stream:
            for _ in stream:
                pass
        completion = stream.completion
        count += 1
        got = streams.digest(completion.text, [], (completion.usage.input_tokens, completion.usage.output_tokens), completion.finish_reason)
        if got != expected:
            yield {"error": "stream %d gave a wrong result" % count}
            return
        now = time.monotonic()
        done = now - start >= job["seconds"]
        if now - last >= job["interval"] or done or count == 1:
            last = now
            fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
            yield {"t": round(now - start, 1), "streams": count, "rss_kb": current_rss_kb(), "fds": fds, "threads": threading.active_count()}
        if done:
            return


def main() -> None:
    for job in json.loads(sys.argv[1]):
        kind = job.get("kind", "stream")
        if kind == "soak":
            for sample in soak_job(job):
                print(json.dumps(sample), flush=True)
            continue
        print(json.dumps(memory_job(job) if kind == "memory" else run_job(job)), flush=True)


if __name__ == "__main__":
    main()
