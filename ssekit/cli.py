"""The ``ssekit`` command line: demo, stream, parse, accumulate and serve.

Expected failures (HTTP errors, bad JSON on the command line, an unreachable
host, an incomplete stream) end in one line on stderr and a non-zero exit
code, never a traceback. API keys are read from ``--api-key`` or the
environment and never printed.
"""
import argparse
import contextlib
import json
import logging
import os
import sys
import time
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence

from . import __version__
from .completion import Completion
from .errors import IncompleteStreamError, SSEKitError, StreamError
from .formats import FORMATS, new_accumulator
from .sse import ServerSentEvent, iter_sse
from .stream import API_KEY_ENV, stream_completion
from .testing.gateway import DEFAULT_PROMPT, PATHS, LocalGateway, sample_request

#: Seconds allowed to connect, and the default longest silence while reading (``--timeout``).
CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 120.0
#: Exit codes: a failure while working, a bad command line, Ctrl-C.
EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

_FORMAT_CHOICES = ["auto"] + sorted(FORMATS)
_GATEWAY_FORMATS = sorted(PATHS)
_READ_SIZE = 64 * 1024


class UsageError(Exception):
    """A bad command line that argparse cannot see (e.g. ``-d`` that is not JSON)."""


# --- output helpers -----------------------------------------------------------


def _say(stream: IO[str], text: str) -> None:
    """Write *text* and flush at once (live output, also through pipes)."""
    stream.write(text)
    stream.flush()


def event_to_json(sse: ServerSentEvent) -> str:
    """One event as a JSON line: ``{"event", "data", "id", "retry"}`` (for ``parse`` and ``--events``)."""
    return json.dumps({"event": sse.event, "data": sse.data, "id": sse.id, "retry": sse.retry}, ensure_ascii=False)


def _usage_text(completion: Completion) -> str:
    usage = completion.usage
    if usage.input_tokens is not None and usage.output_tokens is not None:
        return "%d in + %d out = %d tokens" % (usage.input_tokens, usage.output_tokens, usage.total_tokens or 0)
    if usage.total_tokens is not None:
        return "%d tokens" % usage.total_tokens
    return "not reported"


class Stats:
    """Timing of one stream: time to the first text (or event), pieces received, tokens per second."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.first = None  # type: Optional[float]
        self.pieces = 0

    def saw(self) -> None:
        """Note one piece of output (the first one fixes the time to first token)."""
        if self.first is None:
            self.first = time.monotonic()
        self.pieces += 1

    def summary(self, completion: Completion, *, counted_tokens: bool = True, interrupted: bool = False) -> str:
        """The one-line summary: finish reason, usage, time to first token, tokens/s, id.

        The rate uses the reported output tokens, else the pieces seen when
        *counted_tokens* (each text delta is about one token).
        """
        now = time.monotonic()
        parts = ["interrupted" if interrupted else "finish: %s" % (completion.finish_reason or "none")]
        parts.append("usage: %s" % _usage_text(completion))
        if self.first is None:
            parts.append("no output")
        else:
            parts.append("first token %.2f s" % (self.first - self.start))
            tokens = completion.usage.output_tokens or (self.pieces if counted_tokens else 0)
            elapsed = now - self.first
            if tokens > 1 and elapsed > 0:
                parts.append("%.1f tokens/s" % ((tokens - 1) / elapsed))
        parts.append("%.2f s in all" % (now - self.start))
        if completion.id:
            parts.append("id %s" % completion.id)
        return "-- " + " | ".join(parts)


# --- reading input ------------------------------------------------------------


def _open_input(path: str) -> IO[bytes]:
    """The binary stream behind FILE or ``-`` (stdin)."""
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    """What is available from *source*, piece by piece (a live pipe is read as it fills)."""
    read = getattr(source, "read1", source.read)
    return iter(lambda: read(_READ_SIZE), b"")


def _events_of(path: str) -> Iterator[ServerSentEvent]:
    """The events of a recorded stream in FILE or on stdin."""
    source = _open_input(path)
    try:
        for sse in iter_sse(_chunks(source)):
            yield sse
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _read_data(value: str) -> Any:
    """The JSON of ``-d``: inline text, ``@file`` or ``@-`` for stdin."""
    if value.startswith("@"):
        name = value[1:]
        try:
            text = sys.stdin.read() if name == "-" else _read_text(name)
        except OSError as exc:
            raise UsageError("cannot read -d %s: %s" % (value, exc.strerror or exc))
        where = "stdin" if name == "-" else name
    else:
        text, where = value, "-d"
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError("%s is not valid JSON: %s" % (where, exc))


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _parse_headers(values: Sequence[str]) -> Dict[str, str]:
    """``-H 'Name: value'`` options as a dict."""
    headers = {}  # type: Dict[str, str]
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise UsageError("-H expects 'Name: value' (got %d characters without a colon; not shown, it may hold a key)" % len(value))
        headers[name.strip()] = content.strip()
    return headers


# --- streaming (shared by ``stream`` and ``demo``) ----------------------------


def run_stream(
    url: str,
    body: Any,
    *,
    headers: Optional[Dict[str, str]] = None,
    api_key: Optional[str] = None,
    format: str = "auto",
    events: bool = False,
    timeout: float = READ_TIMEOUT,
    deadline: Optional[float] = None,
    retry: int = 2,
) -> int:
    """POST *body* to *url*, print text (or events) live on stdout, the summary on stderr.

    Returns the exit code; Ctrl-C stops the stream and reports what arrived.
    """
    stats = Stats()
    stream = stream_completion(
        url,
        json=body,
        headers=headers,
        api_key=api_key,
        format=format,
        timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
        deadline=deadline,
        retry=retry,
    )
    ended_line = True
    interrupted = False
    try:
        with stream:
            if events:
                for sse in stream.events():
                    stats.saw()
                    _say(sys.stdout, event_to_json(sse) + "\n")
            else:
                for text in stream:
                    stats.saw()
                    _say(sys.stdout, text)
                    ended_line = text.endswith("\n")
    except KeyboardInterrupt:
        stream.cancel()
        interrupted = True
    finally:
        if not ended_line:
            _say(sys.stdout, "\n")
    _say(sys.stderr, stats.summary(stream.completion, counted_tokens=not events, interrupted=interrupted) + "\n")
    return EXIT_INTERRUPTED if interrupted else 0


# --- the commands ---------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the embedded gateway and stream a completion from it, token by token."""
    with LocalGateway(pace=args.pace) as gateway:
        url = gateway.url(args.format)
        body = sample_request(args.format, prompt=DEFAULT_PROMPT, stream=True)
        _say(sys.stderr, "ssekit demo: %s stream from the embedded local gateway, POST %s\n" % (args.format, url))
        _say(sys.stderr, "> %s\n" % DEFAULT_PROMPT)
        return run_stream(url, body, format=args.format)


def cmd_stream(args: argparse.Namespace) -> int:
    """POST a JSON request and stream the answer."""
    if not args.url.lower().startswith(("http://", "https://")):
        raise UsageError("the URL must start with http:// or https://")
    body = _read_data(args.data)
    if isinstance(body, dict):
        body.setdefault("stream", True)
    return run_stream(
        args.url,
        body,
        headers=_parse_headers(args.header),
        api_key=args.api_key,  # None: stream_completion reads $SSEKIT_API_KEY
        format=args.format,
        events=args.events,
        timeout=args.timeout,
        deadline=args.deadline,
        retry=args.retry,
    )


def cmd_parse(args: argparse.Namespace) -> int:
    """Print one JSON line per event of a recorded stream."""
    for sse in _events_of(args.file):
        _say(sys.stdout, event_to_json(sse) + "\n")
    return 0


def cmd_accumulate(args: argparse.Namespace) -> int:
    """Print the Completion a recorded stream adds up to; what it held (and an error) if it broke off."""
    accumulator = new_accumulator(args.format)
    try:
        for sse in _events_of(args.file):
            accumulator.add(sse)
        completion = accumulator.finish()
    except (IncompleteStreamError, StreamError) as exc:
        partial = exc.partial if exc.partial is not None else accumulator.completion
        _say(sys.stdout, partial.to_json(indent=2) + "\n")
        raise
    _say(sys.stdout, completion.to_json(indent=2) + "\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the embedded gateway until Ctrl-C."""
    gateway = LocalGateway(pace=args.pace, port=args.port, log=lambda line: _say(sys.stderr, line + "\n"))
    try:
        gateway.start()
    except OSError as exc:
        raise SSEKitError("cannot listen on 127.0.0.1:%d: %s" % (args.port, exc.strerror or exc))
    try:  # Ctrl-C may come as soon as the announcement is out, before the sleep starts
        lines = ["ssekit gateway on %s (Ctrl-C to stop)" % gateway.base_url, "endpoints (POST):"]
        lines += ["  %-17s %s" % (name, gateway.url(name)) for name in _GATEWAY_FORMATS]
        lines.append("plain SSE feed (GET, for follow_sse): %s" % gateway.feed_url)
        lines.append("try: ssekit stream %s -d '%s'" % (gateway.url(args.format), json.dumps(sample_request(args.format))))
        _say(sys.stdout, "\n".join(lines) + "\n")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        _say(sys.stderr, "stopped\n")
    finally:
        gateway.close()
    return 0


# --- argument parsing ------------------------------------------------------------


def _seconds(value: str) -> float:
    """An argparse type: a number of seconds >= 0."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number of seconds: %r" % value)
    if number < 0:
        raise argparse.ArgumentTypeError("seconds cannot be negative: %r" % value)
    return number


def _positive_seconds(value: str) -> float:
    """An argparse type: a number of seconds > 0."""
    number = _seconds(value)
    if not number:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return number


def _count(value: str) -> int:
    """An argparse type: a whole number >= 0."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError("not a whole number >= 0: %r" % value)
    return int(value)


def _port(value: str) -> int:
    """An argparse type: a TCP port number (0 picks a free one)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("not a port number: %r" % value)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError("port out of range: %d" % number)
    return number


def build_parser() -> argparse.ArgumentParser:
    """The ``ssekit`` argument parser with its five sub-commands."""
    parser = argparse.ArgumentParser(
        prog="ssekit",
        description="Read Server-Sent-Event streams, above all LLM token streams.",
        epilog="Run 'ssekit COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version="ssekit " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description)
        sub.set_defaults(func=func)
        return sub

    demo = command(
        "demo",
        cmd_demo,
        "stream a completion from the embedded local gateway (no network, no key)",
        "Start the embedded local LLM gateway in this process and stream a multi-sentence answer "
        "token by token, then print a one-line summary (finish reason, usage, time to first token, tokens/s).",
    )
    demo.add_argument("--format", choices=_GATEWAY_FORMATS, default="chat_completions", help="wire format (default: chat_completions)")
    demo.add_argument("--pace", type=_seconds, default=0.04, metavar="SECONDS", help="pause between tokens (default: 0.04)")

    stream = command(
        "stream",
        cmd_stream,
        "POST a JSON request to an LLM endpoint and print the answer live",
        "POST a JSON request (\"stream\": true is added if absent) and print the text as it arrives on stdout; "
        "finish reason, usage and timing go to stderr. The API key comes from --api-key or $%s and is "
        "never printed. Ctrl-C stops the stream and shows what arrived." % API_KEY_ENV,
    )
    stream.add_argument("url", help="the endpoint, e.g. https://api.openai.com/v1/chat/completions")
    stream.add_argument("-d", "--data", required=True, metavar="JSON|@FILE", help="the request body: JSON text, @file, or @- for stdin")
    stream.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'", help="an extra request header (repeatable)")
    stream.add_argument("--format", choices=_FORMAT_CHOICES, default="auto", help="wire format (default: recognised from the stream)")
    stream.add_argument("--events", action="store_true", help="print one JSON line per raw event instead of the text")
    stream.add_argument("--api-key", metavar="KEY", help="API key (default: $%s)" % API_KEY_ENV)
    stream.add_argument("--timeout", type=_positive_seconds, default=READ_TIMEOUT, metavar="SECONDS",
                        help="longest silence allowed while reading (default: %g)" % READ_TIMEOUT)
    stream.add_argument("--deadline", type=_positive_seconds, metavar="SECONDS", help="total time allowed for the whole stream")
    stream.add_argument("--retry", type=_count, default=2, metavar="N", help="retries before the first event (default: 2)")

    parse = command(
        "parse",
        cmd_parse,
        "print one JSON line per event of a recorded stream",
        "Decode a recorded event stream (FILE, or - for stdin, read as it arrives) and print one JSON line "
        'per event: {"event", "data", "id", "retry"}.',
    )
    parse.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="the recorded stream (default: stdin)")

    accumulate = command(
        "accumulate",
        cmd_accumulate,
        "print the final Completion of a recorded stream as JSON",
        "Rebuild the whole answer of a recorded LLM stream (text, tool calls, usage, finish reason) and print it "
        "as JSON. A stream that ends early prints what it held and fails.",
    )
    accumulate.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="the recorded stream (default: stdin)")
    accumulate.add_argument("--format", choices=_FORMAT_CHOICES, default="auto", help="wire format (default: recognised from the stream)")

    serve = command(
        "serve",
        cmd_serve,
        "run the embedded local gateway for trying clients by hand",
        "Serve the embedded LLM gateway on 127.0.0.1: all four formats at their usual paths, and a plain "
        "SSE feed. --format picks the endpoint of the example command printed at start.",
    )
    serve.add_argument("--format", choices=_GATEWAY_FORMATS, default="chat_completions", help="format of the printed example (default: chat_completions)")
    serve.add_argument("--port", type=_port, default=8765, help="port on 127.0.0.1 (default: 8765; 0 picks a free one)")
    serve.add_argument("--pace", type=_seconds, default=0.04, metavar="SECONDS", help="pause between tokens (default: 0.04)")
    return parser


class _StderrLog(logging.Handler):
    """Shows ssekit's warnings (e.g. each retry) as ``ssekit: ...`` lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record as one line."""
        _say(sys.stderr, "ssekit: %s\n" % record.getMessage())


@contextlib.contextmanager
def _log_to_stderr() -> Iterator[None]:
    """While the command runs, show ssekit's warnings (e.g. each retry) on stderr."""
    logger = logging.getLogger("ssekit")
    handler = _StderrLog(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for output in (sys.stdout, sys.stderr):
        if hasattr(output, "reconfigure"):  # text the console cannot encode is escaped, not a crash
            output.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    with _log_to_stderr():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command, turning expected failures into one line on stderr and an exit code."""
    try:
        return args.func(args)
    except UsageError as exc:
        _say(sys.stderr, "ssekit %s: %s\n" % (args.command, exc))
        return EXIT_USAGE
    except SSEKitError as exc:
        _say(sys.stderr, "ssekit %s: %s\n" % (args.command, exc))
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader went away (e.g. "| head"): stop quietly, and keep Python's exit-time flush quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except OSError as exc:
        _say(sys.stderr, "ssekit %s: %s\n" % (args.command, exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _say(sys.stderr, "ssekit %s: interrupted\n" % args.command)
        return EXIT_INTERRUPTED
