"""The ``ssekit`` command line: demo, stream, record, parse, accumulate and serve.

Every failure ends in one line on stderr (``ssekit COMMAND: ...``, naming
the ssekit exception class for library errors) and a non-zero exit code,
never a traceback. Everything the user typed is checked before anything is
sent, and no message repeats a header value or an API key (read from
``--api-key`` or the environment). A reader that goes away (``| head``)
ends the command quietly.
"""
import argparse
import codecs
import contextlib
import json
import logging
import math
import os
import re
import sys
import time
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import requests

from . import __version__
from ._cassette import Cassette, check_record_path
from ._text import printable
from .completion import Completion
from .errors import SSEKitError
from .formats import FORMATS, FormatName, new_accumulator
from .sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, iter_sse
from .stream import API_KEY_ENV, stream_completion
from .updates import update_to_dict

#: Seconds allowed to connect, and the default longest silence while reading (``--timeout``).
CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 120.0
#: The longest time option accepted, in seconds (the socket layer overflows far beyond it).
MAX_SECONDS = 1e6
#: ``-d`` bodies nested deeper than this are refused (JSON encoders recurse; real requests are shallow).
MAX_BODY_DEPTH = 500
#: Exit codes: a failure while working, a bad command line, Ctrl-C.
EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

_FORMAT_CHOICES = ["auto"] + sorted(FORMATS)
_GATEWAY_FORMATS = sorted(FORMATS)  # (each format has its twin in ssekit.testing.gateway)
_READ_SIZE = 64 * 1024
#: An HTTP header name (RFC 9110 ``token``).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
#: ``--max-event-size``: bytes, or binary multiples with a suffix.
_SIZE = re.compile(r"([0-9]{1,15})\s*(b|k|kib|m|mib|g|gib)?\Z", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}
#: Byte-order marks of encodings a JSON body file must not be in, longest first (UTF-32 LE starts like UTF-16 LE).
_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
#: Library wording a command-line user cannot act on, and what to say instead.
_CLI_WORDS = (
    ("max_event_size", "--max-event-size"),
    ("pass format=", "pass --format"),
    ("output had reached the caller", "output had been printed"),
)
#: A clause of a library message that points at ``.partial`` (the CLI says itself what it printed).
_PARTIAL_CLAUSE = re.compile(r"(?:^|[:;])[^:;]*\.partial\b[^;]*")


class CommandError(Exception):
    """A failure the command itself describes (an unreadable file, no events): one line, exit 1."""

    exit_code = EXIT_FAILURE


class UsageError(CommandError):
    """A bad command line that argparse cannot see (``-d`` that is not JSON, an unsendable header): exit 2."""

    exit_code = EXIT_USAGE


class Shown(Exception):
    """A library *error* after the command already printed part of the answer; *shown* says where."""

    def __init__(self, error: SSEKitError, shown: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.shown = shown


# --- output helpers -----------------------------------------------------------


def _say(stream: IO[str], text: str) -> None:
    """Write *text* and flush at once (live output, also through pipes)."""
    stream.write(text)
    stream.flush()


def _tell(line: str) -> None:
    """One line on stderr, control characters escaped (it may quote a server or a file name)."""
    _say(sys.stderr, printable(line) + "\n")


def event_to_json(sse: ServerSentEvent) -> str:
    """One event as a JSON line: ``{"event", "data", "id", "retry"}`` (for ``parse`` and ``--events``)."""
    return json.dumps({"event": sse.event, "data": sse.data, "id": sse.id, "retry": sse.retry}, ensure_ascii=False)


def library_message(error: SSEKitError) -> str:
    """``ClassName: message`` of a library error, in command-line words.

    Clauses about ``.partial`` are dropped (the command says what it printed)
    and Python parameter names become the options that set them.
    """
    text = _PARTIAL_CLAUSE.sub("", str(error)).strip(" ;:")
    for library, option in _CLI_WORDS:
        text = text.replace(library, option)
    return "%s: %s" % (type(error).__name__, text or "no details given")


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


# --- checking what the user typed -----------------------------------------------


def _check_text(what: str, value: str) -> None:
    """Refuse an argument that is not text: bytes the terminal's encoding could not decode."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError("%s holds bytes that are not valid text in this terminal's encoding (at character %d)" % (what, exc.start + 1))


def check_header_value(what: str, value: str) -> None:
    """Refuse a header value HTTP cannot carry: Latin-1 only, no control characters but tab.

    The message names the place, never the value (it may be a key).
    """
    _check_text(what, value)
    for position, char in enumerate(value, 1):
        if ord(char) > 0xFF:
            raise UsageError("%s holds a character HTTP headers cannot carry (outside Latin-1, at character %d; "
                             "the value is not shown)" % (what, position))  # fmt: skip
        if (char < " " and char != "\t") or char == "\x7f":
            raise UsageError("%s holds a control character (at character %d, e.g. a stray newline; the value is not shown)"
                             % (what, position))  # fmt: skip


def parse_headers(values: Sequence[str]) -> Dict[str, str]:
    """``-H 'Name: value'`` options as a dict, each checked to be sendable; no message shows a name or value."""
    headers = {}  # type: Dict[str, str]
    for number, value in enumerate(values, 1):
        name, sep, content = value.partition(":")
        name, content = name.strip(), content.strip()
        if not sep or not name:
            raise UsageError("-H expects 'Name: value' (option %d has %d characters and no name before a colon; "
                             "not shown, it may hold a key)" % (number, len(value)))  # fmt: skip
        if not _HEADER_NAME.match(name):
            raise UsageError("-H option %d: the header name is not a valid HTTP name (letters, digits and !#$%%&'*+-.^_`|~ "
                             "only; not shown, it may hold a key)" % number)  # fmt: skip
        check_header_value("the value of -H %s" % name, content)
        headers[name] = content
    return headers


def api_key(given: Optional[str]) -> Optional[str]:
    """The ``--api-key`` to pass on, after checking it (and ``$SSEKIT_API_KEY``) can be sent.

    None leaves the environment variable to ``stream_completion``, which
    reads it only when ``-H`` set no key header.
    """
    if given is not None:
        check_header_value("--api-key", given)
        return given
    from_environment = os.environ.get(API_KEY_ENV)
    if from_environment:
        check_header_value("$" + API_KEY_ENV, from_environment)
    return None


def check_url(url: str) -> None:
    """Refuse a URL that cannot be sent: not http(s), spaces or control characters, or unparsable.

    The message does not repeat the URL (a query string may hold a key).
    """
    _check_text("the URL", url)
    if not url.lower().startswith(("http://", "https://")):
        raise UsageError("the URL must start with http:// or https://")
    if re.search(r"[\x00-\x20\x7f]", url):
        raise UsageError("the URL holds a space or a control character (percent-encode it as %20 and so on)")
    try:
        requests.models.PreparedRequest().prepare_url(url, None)
    except (requests.RequestException, ValueError) as exc:
        reason = "no host" if "No host" in str(exc) else "a malformed host, port or IPv6 address, or a host name IDNA cannot encode"
        raise UsageError("the URL cannot be sent: %s (%s)" % (reason, type(exc).__name__))


def decode_utf8(data: bytes, where: str) -> str:
    """The text of a JSON body file, which must be UTF-8 (a UTF-8 BOM is allowed); else say what it is."""
    for bom, encoding in _FOREIGN_BOMS:
        if data.startswith(bom):
            raise UsageError("%s is %s text (it starts with a %s byte-order mark): save it as UTF-8" % (where, encoding, encoding))
    if b"\x00" in data:
        raise UsageError("%s holds NUL bytes (UTF-16 or UTF-32 text, or a binary file?): JSON must be UTF-8" % where)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError("%s is not UTF-8 text (byte 0x%02x at offset %d): save it as UTF-8" % (where, data[exc.start], exc.start))


def _refuse_constant(name: str) -> Any:
    """``json.loads`` hook: NaN and Infinity are Python's extension, not JSON, and cannot be sent."""
    raise ValueError("%s is not a JSON value" % name)


def _depth(value: Any) -> int:
    """How deeply *value* nests lists and dicts (iteratively: the point is to refuse deep values)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def read_data(value: str) -> Any:
    """The JSON of ``-d``: inline text, ``@file`` or ``@-`` for stdin, checked to be sendable JSON."""
    if value.startswith("@"):
        name = value[1:]
        where = "stdin" if name == "-" else name
        try:
            data = sys.stdin.buffer.read() if name == "-" else _read_bytes(name)
        except OSError as exc:
            raise UsageError("cannot read -d %s: %s" % (value, exc.strerror or exc))
        text = decode_utf8(data, where)
    else:
        _check_text("-d", value)
        text, where = value, "-d"
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        body = None
    except ValueError as exc:
        raise UsageError("%s is not valid JSON: %s" % (where, exc))
    if body is None or _depth(body) > MAX_BODY_DEPTH:
        raise UsageError("%s is nested deeper than %d levels, more than can be sent" % (where, MAX_BODY_DEPTH))
    return body


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


# --- reading recorded streams ---------------------------------------------------


class Recording:
    """A recorded stream in FILE or on stdin (``-``): its events, and how many bytes and events it held."""

    def __init__(self, path: str, max_event_size: int) -> None:
        self.name = "stdin" if path == "-" else path
        self.path = path
        self.max_event_size = max_event_size
        self.size = 0
        self.count = 0

    def events(self) -> Iterator[ServerSentEvent]:
        """The events, as the input arrives (a live pipe is read as it fills)."""
        try:
            source = sys.stdin.buffer if self.path == "-" else open(self.path, "rb")
        except OSError as exc:
            raise CommandError("cannot read %s: %s" % (self.name, exc.strerror or exc))
        try:
            for sse in iter_sse(self._chunks(source), max_event_size=self.max_event_size):
                self.count += 1
                yield sse
        finally:
            if source is not sys.stdin.buffer:
                source.close()

    def _chunks(self, source: IO[bytes]) -> Iterator[bytes]:
        read = getattr(source, "read1", source.read)
        for chunk in iter(lambda: read(_READ_SIZE), b""):
            self.size += len(chunk)
            yield chunk

    def no_events(self) -> CommandError:
        """The error for input that held no event at all (a wrong file, an empty pipe)."""
        if not self.size:
            return CommandError("no events: %s is empty" % self.name)
        return CommandError("no events in %s: its %d bytes hold no SSE event (is it a recorded event stream?)" % (self.name, self.size))


# --- streaming (shared by ``stream`` and ``demo``) ----------------------------


def run_stream(
    url: str,
    body: Any,
    *,
    headers: Optional[Dict[str, str]] = None,
    api_key: Optional[str] = None,
    format: "FormatName" = "auto",
    events: bool = False,
    timeout: float = READ_TIMEOUT,
    deadline: Optional[float] = None,
    retry: int = 2,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    record: Optional[str] = None,
) -> int:
    """POST *body* to *url*, print text (or events) live on stdout, the summary on stderr (recorded to *record*).

    Returns the exit code; Ctrl-C stops the stream and reports what arrived.
    A failure after output raises :class:`Shown`, so the error line says so.
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
        max_event_size=max_event_size,
        record=record,
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
    except SSEKitError as exc:
        if stats.pieces:
            raise Shown(exc, "the %s received so far %s printed on stdout" % (("events", "were") if events else ("text", "was")))
        raise
    finally:
        if not ended_line:
            _say(sys.stdout, "\n")
    _tell(stats.summary(stream.completion, counted_tokens=not events, interrupted=interrupted))
    return EXIT_INTERRUPTED if interrupted else 0


# --- the commands ---------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the embedded gateway and stream a completion from it, token by token."""
    from .testing.gateway import DEFAULT_PROMPT, LocalGateway, sample_request  # (only these two commands need the server)

    with LocalGateway(pace=args.pace) as gateway:
        url = gateway.url(args.format)
        body = sample_request(args.format, prompt=DEFAULT_PROMPT, stream=True)
        _tell("ssekit demo: %s stream from the embedded local gateway, POST %s" % (args.format, url))
        _tell("> %s" % DEFAULT_PROMPT)
        return run_stream(url, body, format=args.format)


def cmd_stream(args: argparse.Namespace, record: Optional[str] = None) -> int:
    """POST a JSON request and stream the answer (recorded to *record*); every argument is checked before anything is sent."""
    check_url(args.url)
    headers = parse_headers(args.header)
    key = api_key(args.api_key)
    body = read_data(args.data)
    if isinstance(body, dict):
        body.setdefault("stream", True)
    return run_stream(
        args.url,
        body,
        headers=headers,
        api_key=key,  # None: stream_completion reads $SSEKIT_API_KEY
        format=args.format,
        events=args.events,
        timeout=args.timeout,
        deadline=args.deadline,
        retry=args.retry,
        max_event_size=args.max_event_size,
        record=record,
    )


def cmd_record(args: argparse.Namespace) -> int:
    """``stream``, recording the exchange to the ``-o`` cassette; the file is checked before anything is sent."""
    try:
        check_record_path(args.output)
    except SSEKitError as exc:
        raise UsageError(str(exc).replace("record=", "-o ")) from None
    before = _file_stamp(args.output)
    code = cmd_stream(args, record=args.output)
    if _file_stamp(args.output) == before:  # (stopped before any answer: the file was not written)
        _tell("nothing was recorded to %s: no answer arrived" % printable(args.output))
        return code or 1
    cassette = Cassette.load(args.output)
    _tell("recorded %d chunk(s), %d bytes, to %s" % (len(cassette.chunks), len(cassette.body), printable(args.output)))
    return code


def _file_stamp(path: str) -> Optional[Tuple[int, int, int]]:
    """What tells a file rewritten from the same file left as it was (None when there is none)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def cmd_parse(args: argparse.Namespace) -> int:
    """Print one JSON line per event of a recorded stream; input with no event at all fails."""
    recording = Recording(args.file, args.max_event_size)
    for sse in recording.events():
        _say(sys.stdout, event_to_json(sse) + "\n")
    if not recording.count:
        raise recording.no_events()
    return 0


def cmd_accumulate(args: argparse.Namespace) -> int:
    """Print the Completion a recorded stream adds up to; what it held (and an error) if it broke off."""
    recording = Recording(args.file, args.max_event_size)
    accumulator = new_accumulator(args.format)
    if args.updates:
        accumulator.watch()
    try:
        for sse in recording.events():
            text = accumulator.add(sse)
            if args.updates:
                for update in accumulator.updates_after(text):
                    _say(sys.stdout, json.dumps(update_to_dict(update), ensure_ascii=False) + "\n")
        if not recording.count:
            raise recording.no_events()
        completion = accumulator.finish()
    except SSEKitError as exc:
        if not recording.count:
            raise
        if args.updates:
            raise Shown(exc, "the updates so far were printed on stdout")
        partial = exc.partial if exc.partial is not None else accumulator.completion
        _say(sys.stdout, _accumulated(partial, args.messages))
        raise Shown(exc, "what the stream held so far was printed on stdout")
    if not args.updates:
        _say(sys.stdout, _accumulated(completion, args.messages))
    return 0


def _accumulated(completion: Completion, messages: bool) -> str:
    """The Completion as JSON, or with *messages* its assistant turn (``to_messages()``) as the next request takes it."""
    if not messages:
        return completion.to_json(indent=2) + "\n"
    return json.dumps(completion.to_messages(), indent=2, ensure_ascii=False) + "\n"


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the embedded gateway until Ctrl-C."""
    from .testing.gateway import LocalGateway, sample_request

    gateway = LocalGateway(pace=args.pace, port=args.port, log=_tell)
    try:
        gateway.start()
    except OSError as exc:
        raise CommandError("cannot listen on 127.0.0.1:%d: %s" % (args.port, exc.strerror or exc))
    try:  # Ctrl-C may come as soon as the announcement is out, before the sleep starts
        lines = ["ssekit gateway on %s (Ctrl-C to stop)" % gateway.base_url, "endpoints (POST):"]
        lines += ["  %-17s %s" % (name, gateway.url(name)) for name in _GATEWAY_FORMATS]
        lines.append("plain SSE feed (GET, for follow_sse): %s" % gateway.feed_url)
        lines.append("try: ssekit stream %s -d '%s'" % (gateway.url(args.format), json.dumps(sample_request(args.format))))
        _say(sys.stdout, "\n".join(lines) + "\n")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        _tell("stopped")
    finally:
        gateway.close()
    return 0


# --- argument parsing ------------------------------------------------------------


def _seconds(value: str) -> float:
    """An argparse type: a number of seconds from 0 to :data:`MAX_SECONDS` (no NaN, no infinity)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number of seconds: %r" % value[:40])
    if not math.isfinite(number) or not 0 <= number <= MAX_SECONDS:
        raise argparse.ArgumentTypeError("seconds must be from 0 to %d: %r" % (MAX_SECONDS, value[:40]))
    return number


def _positive_seconds(value: str) -> float:
    """An argparse type: a number of seconds > 0."""
    number = _seconds(value)
    if not number:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return number


def _count(value: str) -> int:
    """An argparse type: a whole number from 0 to 999."""
    if not re.match(r"[0-9]{1,3}\Z", value):
        raise argparse.ArgumentTypeError("not a whole number from 0 to 999: %r" % value[:40])
    return int(value)


def _port(value: str) -> int:
    """An argparse type: a TCP port number (0 picks a free one)."""
    if not re.match(r"[0-9]{1,5}\Z", value) or int(value) > 65535:
        raise argparse.ArgumentTypeError("not a port number from 0 to 65535: %r" % value[:40])
    return int(value)


def byte_size(value: str) -> int:
    """An argparse type: a size in bytes > 0, e.g. ``65536``, ``512KiB``, ``16MiB`` (K, M, G: powers of 1024)."""
    match = _SIZE.match(value.strip())
    if not match:
        raise argparse.ArgumentTypeError("not a size in bytes (e.g. 65536, 512KiB, 16MiB): %r" % value[:40])
    number = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    if not number:
        raise argparse.ArgumentTypeError("must be at least 1 byte")
    return number


def _add_max_event_size(sub: argparse.ArgumentParser) -> None:
    """The ``--max-event-size`` option of the commands that decode streams."""
    sub.add_argument("--max-event-size", type=byte_size, default=DEFAULT_MAX_EVENT_SIZE, metavar="SIZE",
                     help="largest line or event accepted, in bytes or with KiB/MiB (default: %dMiB)"
                     % (DEFAULT_MAX_EVENT_SIZE >> 20))  # fmt: skip


def _add_request_options(sub: argparse.ArgumentParser) -> None:
    """The request and output options of ``stream`` and ``record``."""
    sub.add_argument("url", help="the endpoint, e.g. https://api.openai.com/v1/chat/completions")
    sub.add_argument("-d", "--data", required=True, metavar="JSON|@FILE", help="the request body: JSON text, @file (UTF-8), or @- for stdin")
    sub.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'", help="an extra request header (repeatable)")
    sub.add_argument("--format", choices=_FORMAT_CHOICES, default="auto", help="wire format (default: recognised from the stream)")
    sub.add_argument("--events", action="store_true", help="print one JSON line per raw event instead of the text")
    sub.add_argument("--api-key", metavar="KEY", help="API key (default: $%s)" % API_KEY_ENV)
    sub.add_argument("--timeout", type=_positive_seconds, default=READ_TIMEOUT, metavar="SECONDS",
                     help="longest silence allowed while reading (default: %g)" % READ_TIMEOUT)
    sub.add_argument("--deadline", type=_positive_seconds, metavar="SECONDS", help="total time allowed for the whole stream")
    sub.add_argument("--retry", type=_count, default=2, metavar="N", help="retries before the first event (default: 2)")
    _add_max_event_size(sub)
    _add_verbose(sub)


def _add_verbose(sub: argparse.ArgumentParser) -> None:
    """The ``-v`` option of the commands that make requests."""
    sub.add_argument("-v", "--verbose", action="store_true", help="show each retry and the response status on stderr")


class _Parser(argparse.ArgumentParser):
    """argparse, except that unknown arguments are not echoed: after a typo (``--api-kye sk-...``) one may be a key."""

    def parse_args(self, args: Optional[Sequence[str]] = None, namespace: Any = None) -> Any:  # type: ignore[override]
        """Parse like argparse; name only the unknown options, count the other unknown values."""
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            options = [value for value in unknown if value.startswith("-") and len(value) <= 40]
            hidden = len(unknown) - len(options)
            self.error("unrecognized arguments: %s" % ", ".join(options + (["%d other value(s), not shown" % hidden] if hidden else [])))
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The ``ssekit`` argument parser with its six sub-commands."""
    parser = _Parser(
        prog="ssekit",
        description="Read Server-Sent-Event streams, above all LLM token streams.",
        epilog="Run 'ssekit COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version="ssekit " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description)
        sub.set_defaults(func=func, verbose=False)
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
    _add_verbose(demo)

    stream = command(
        "stream",
        cmd_stream,
        "POST a JSON request to an LLM endpoint and print the answer live",
        "POST a JSON request (\"stream\": true is added if absent) and print the text as it arrives on stdout; "
        "finish reason, usage and timing go to stderr. The API key comes from --api-key or $%s and is "
        "never printed. Ctrl-C stops the stream and shows what arrived; a failure is one line on stderr "
        "(-v also shows each retry)." % API_KEY_ENV,
    )
    _add_request_options(stream)

    record = command(
        "record",
        cmd_record,
        "stream like 'stream' and record the exchange to a cassette file",
        "POST a JSON request and print the answer as 'stream' does, while recording the exchange to FILE as a "
        "cassette (JSON lines: the request with every key redacted, the response head, each body chunk as it "
        "arrived with its time), for replaying in tests with ssekit.testing.replay. The API key comes from "
        "--api-key or $%s; it is written nowhere." % API_KEY_ENV,
    )
    record.add_argument("-o", "--output", required=True, metavar="FILE", help="the cassette file to write (replaced if it exists)")
    _add_request_options(record)

    parse = command(
        "parse",
        cmd_parse,
        "print one JSON line per event of a recorded stream",
        "Decode a recorded event stream (FILE, or - for stdin, read as it arrives) and print one JSON line "
        'per event: {"event", "data", "id", "retry"}. Input holding no event at all is an error.',
    )
    parse.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="the recorded stream (default: stdin)")
    _add_max_event_size(parse)

    accumulate = command(
        "accumulate",
        cmd_accumulate,
        "print the final Completion of a recorded stream as JSON",
        "Rebuild the whole answer of a recorded LLM stream (text, tool calls, usage, finish reason) and print it "
        "as JSON. A stream that ends early prints what it held and fails; input holding no event is an error.",
    )
    accumulate.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="the recorded stream (default: stdin)")
    accumulate.add_argument("--format", choices=_FORMAT_CHOICES, default="auto", help="wire format (default: recognised from the stream)")
    shown = accumulate.add_mutually_exclusive_group()
    shown.add_argument("--messages", action="store_true",
                       help="print the assistant turn to append to the next request (Completion.to_messages()) instead")
    shown.add_argument("--updates", action="store_true",
                       help="print the typed progress records instead, one JSON line each (as CompletionStream.updates() yields them)")
    _add_max_event_size(accumulate)

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


class LogLines(logging.Handler):
    """ssekit's log while a command runs: shown as ``ssekit: ...`` lines with ``-v``, else only counted.

    Without ``-v`` a failure's final line says that retries were hidden, so
    the user learns ``-v`` exists exactly when it would have shown something.
    """

    def __init__(self, verbose: bool) -> None:
        super().__init__(logging.DEBUG if verbose else logging.WARNING)
        self.verbose = verbose
        self.hidden = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Show one record as one line, or count it."""
        if self.verbose:
            _tell("ssekit: %s" % record.getMessage())
        else:
            self.hidden += 1


@contextlib.contextmanager
def _ssekit_log(verbose: bool) -> Iterator[LogLines]:
    """While the command runs, route the ``ssekit`` logger to a :class:`LogLines` (all levels with ``-v``)."""
    logger = logging.getLogger("ssekit")
    handler = LogLines(verbose)
    level = logger.level
    logger.addHandler(handler)
    if verbose:
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _silence_closed_output() -> None:
    """After a closed pipe (``| head``): point stdout and stderr at the null device.

    Nothing more can be said, and Python's flush at exit then finds no
    broken pipe to complain about ("Exception ignored ...").
    """
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for output in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError, OSError):  # not a real file (tests), or closed
                os.dup2(null, output.fileno())
    finally:
        os.close(null)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it).

    A reader that stops early (``ssekit demo | head``) ends it quietly with 0:
    it had what it wanted.
    """
    for output in (sys.stdout, sys.stderr):
        if hasattr(output, "reconfigure"):  # text the console cannot encode is escaped, not a crash
            output.reconfigure(errors="backslashreplace")
    try:
        args = build_parser().parse_args(argv)
        with _ssekit_log(args.verbose) as log:
            return _run(args, log)
    except BrokenPipeError:
        _silence_closed_output()
        return 0


def _run(args: argparse.Namespace, log: LogLines) -> int:
    """Run the chosen command, turning expected failures into one line on stderr and an exit code."""
    code = EXIT_FAILURE
    try:
        return int(args.func(args))
    except CommandError as exc:
        line, code = str(exc), exc.exit_code
    except Shown as exc:
        line = "%s; %s" % (library_message(exc.error), exc.shown)
    except SSEKitError as exc:
        line = library_message(exc)
    except BrokenPipeError:
        raise
    except OSError as exc:
        line = "%s: %s" % (type(exc).__name__, exc.strerror or exc)
    except KeyboardInterrupt:
        line, code = "interrupted", EXIT_INTERRUPTED
    if log.hidden:
        line += " (-v shows %d hidden warning(s), e.g. retries)" % log.hidden
    _tell("ssekit %s: %s" % (args.command, line))
    return code
