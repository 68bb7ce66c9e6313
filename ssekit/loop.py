"""The tool loop: stream an answer, run the tools it asks for, send the results back, stream again.

:func:`tool_loop` is the loop a script writes around :func:`~ssekit.stream_completion`
when it offers tools, done once for every format: the assistant turn goes
back as :meth:`Completion.to_messages` gives it (verbatim: thinking
signatures, reasoning items and their following items, provider extras) and
the results as :func:`ssekit.tool_results` shapes them, appended to the
format's history list (:attr:`WireFormat.history_key
<ssekit.formats.base.WireFormat.history_key>`) in a copy of the request.
"""
import copy
import os
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, cast

import requests

from ._text import Secrets, printable
from .completion import Completion, ToolCall
from .control import MAX_RETRY_AFTER, RetryLike, TimeoutLike
from .errors import SSEKitError, StreamTimeoutError, ToolRoundsExceededError, UnsupportedFormatError
from .formats import FORMATS, FormatName, tool_results
from .formats.base import ToolResult
from .sse import DEFAULT_MAX_EVENT_SIZE
from .stream import API_KEY_ENV, CompletionStream, EventHook, stream_completion

__all__ = ["ToolLoop", "tool_loop"]

#: A tool: called with the call's JSON arguments as keywords; returns a string or a JSON-ready value.
Tool = Callable[..., Any]
#: The longest tool error message sent back to the model (the rest is cut).
MAX_ERROR_MESSAGE = 2000


class ToolLoop:
    """The rounds of one tool loop; iterate it for the text of every answer as it arrives.

    Made by :func:`tool_loop` (whose docstring describes the parameters);
    nothing is sent before iteration starts, and it is iterated once.
    After (or during) the loop:

    - :attr:`completion`: the last answer (the final one once the loop ended;
      None before the first answer began).
    - :attr:`request`: the request body as last sent: a deep copy of the
      caller's ``json`` whose history list has grown by each round's
      assistant turn and tool results (the caller's object is never touched).
    - :attr:`history`: that history list (``messages``, ``input`` or ``contents``).
    - :attr:`rounds`: how many answers were streamed (1 when no tool was asked for).
    - :attr:`format`: the wire format, once known (from the first answer under ``"auto"``).
    - :meth:`cancel` / :meth:`close`: stop from this or another thread; the
      iteration then ends quietly and :attr:`cancelled` is True.
    """

    def __init__(
        self,
        url: str,
        json: Any,
        tools: Mapping[str, Tool],
        format: "FormatName",
        max_rounds: int,
        deadline: Optional[float],
        cancel: Optional[threading.Event],
        session: Optional[requests.Session],
        secrets: Secrets,
        options: Dict[str, Any],
    ) -> None:
        if not isinstance(json, dict):
            raise SSEKitError("a tool loop needs a JSON object request body, not %s" % type(json).__name__)
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise SSEKitError("max_rounds must be a positive integer, not %r" % (max_rounds,))
        if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or deadline <= 0):
            raise SSEKitError("deadline must be a positive number of seconds, not %r" % (deadline,))
        self.url = url
        self.request = copy.deepcopy(json)  # type: Dict[str, Any]
        self.tools = dict(tools)
        self.format = None if format == "auto" else format  # type: Optional[str]
        self._asked_format = format
        if self.format is not None:
            self._history_key()  # an unknown or tool-less format fails here, before anything is sent
        self.max_rounds = max_rounds
        self.deadline = deadline
        self.rounds = 0
        self.completion = None  # type: Optional[Completion]
        self._cancel_event = cancel
        self._cancelled = threading.Event()
        self._session = session
        self._secrets = secrets
        self._options = options
        self._stream = None  # type: Optional[CompletionStream]
        self._started = False

    def __repr__(self) -> str:
        return "<ToolLoop format=%r rounds=%d%s>" % (self.format, self.rounds, " cancelled" if self.cancelled else "")

    @property
    def history(self) -> List[Any]:
        """The conversation as the next request would send it (the list in :attr:`request`)."""
        key = self._history_key() if self.format is not None else None
        value = self.request.get(key) if key else None
        return value if isinstance(value, list) else []

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` (or the *cancel* event) stopped the loop."""
        return self._cancelled.is_set() or (self._cancel_event is not None and self._cancel_event.is_set())

    def cancel(self) -> None:
        """Stop the loop from any thread: the stream under way is cancelled, no tool is started after it."""
        self._cancelled.set()
        stream = self._stream
        if stream is not None:
            stream.cancel()

    close = cancel

    def __enter__(self) -> "ToolLoop":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise SSEKitError("a tool loop is iterated once")
        self._started = True
        own_session = self._session is None
        session = requests.Session() if own_session else self._session
        try:
            for text in self._run(session, None if self.deadline is None else time.monotonic() + self.deadline):
                yield text
        finally:
            self._stream = None
            if own_session and session is not None:
                session.close()

    def _run(self, session: Optional[requests.Session], ends: Optional[float]) -> Iterator[str]:
        """The rounds: stream, stop if no tool was asked for, run the tools, extend the history."""
        while not self.cancelled:
            stream = stream_completion(
                self.url, json=self.request, format=cast("FormatName", self.format or self._asked_format), session=session,
                deadline=self._remaining(ends), cancel=self._cancel_event, **self._options
            )  # fmt: skip
            self._stream = stream
            if self._cancelled.is_set():  # cancel() came before the stream was there to stop
                stream.cancel()
            with stream:
                for text in stream:
                    yield text
            self.rounds += 1
            self.completion = completion = stream.completion
            if stream.cancelled or not completion.tool_calls:
                return
            if self.format is None:
                self.format = completion.format
            if self.rounds >= self.max_rounds:
                raise ToolRoundsExceededError(
                    "the model still asked for tools after %d round(s) (max_rounds=%d)" % (self.rounds, self.max_rounds),
                    rounds=self.rounds, partial=completion,
                )  # fmt: skip
            results = [self._run_tool(call) for call in completion.tool_calls]
            self._remaining(ends)  # the tools' time counts: past the deadline, no further request
            key = self._history_key()
            history = self._history_list(key)
            history.extend(completion.to_messages())
            history.extend(tool_results(cast("FormatName", self.format), results))
            self.request[key] = history

    def _remaining(self, ends: Optional[float]) -> Optional[float]:
        """The seconds left of the loop's deadline (None: no deadline); raises once it has passed."""
        if ends is None:
            return None
        left = ends - time.monotonic()
        if left <= 0:
            raise StreamTimeoutError(
                "the tool loop's deadline of %gs passed after %d round(s)" % (self.deadline or 0, self.rounds),
                partial=self.completion,
            )
        return left

    def _history_key(self) -> str:
        """Where the format keeps the conversation in a request; an error for formats without tools."""
        spec = FORMATS.get(self.format or "")
        if spec is None:
            raise UnsupportedFormatError("unknown format %r for a tool loop" % printable(str(self.format), 40))
        if spec.history_key is None:
            raise UnsupportedFormatError("the %s format has no tool calls, so no tool loop" % spec.name)
        return spec.history_key

    def _history_list(self, key: str) -> List[Any]:
        """The history in the request as a new list (a string input becomes one user message)."""
        value = self.request.get(key)
        if isinstance(value, str):
            return [{"role": "user", "content": value}]
        if value is None:
            return []
        if not isinstance(value, list):
            raise SSEKitError("the request's %r is neither a list nor a string, so it cannot be extended" % key)
        return list(value)

    def _run_tool(self, call: ToolCall) -> ToolResult:
        """Run one call: its output, or an ``is_error`` result saying what went wrong (never a traceback)."""
        tool = self.tools.get(call.name or "")
        if tool is None:
            return call, "unknown tool %r; available: %s" % (call.name, ", ".join(sorted(self.tools)) or "none"), True
        try:
            arguments = call.parse_arguments()
        except SSEKitError as exc:
            return call, self._error_message(exc), True
        if not isinstance(arguments, dict):
            return call, "the arguments of %s must be a JSON object, not %s" % (call.name, type(arguments).__name__), True
        try:
            return call, tool(**arguments), False
        except Exception as exc:  # a failing tool is the model's to hear about, not the script's crash
            return call, self._error_message(exc), True

    def _error_message(self, exc: BaseException) -> str:
        """*exc* as one line for the model: its type and message, keys redacted, cut to a sane length."""
        message = "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__
        return printable(self._secrets.redact(message), MAX_ERROR_MESSAGE)


def tool_loop(
    url: str,
    *,
    json: Any,
    tools: Mapping[str, Tool],
    format: "FormatName" = "auto",
    max_rounds: int = 8,
    session: Optional[requests.Session] = None,
    headers: Optional[Mapping[str, str]] = None,
    api_key: Optional[str] = None,
    timeout: TimeoutLike = None,
    deadline: Optional[float] = None,
    retry: RetryLike = 2,
    cancel: Optional[threading.Event] = None,
    on_event: Optional[EventHook] = None,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    max_retry_after: float = MAX_RETRY_AFTER,
    auth: Any = None,
    verify: Any = None,
    cert: Any = None,
    proxies: Optional[Mapping[str, str]] = None,
    params: Any = None
) -> ToolLoop:
    """Stream an answer, run the tools it asks for, send the results back, and stream again until it stops asking.

    Returns a :class:`ToolLoop`: iterating it yields the text deltas of every
    round as they arrive; then ``.completion`` is the final answer,
    ``.history`` the whole conversation and ``.rounds`` the number of answers::

        loop = ssekit.tool_loop(url, json=body, tools={"get_weather": get_weather})
        for text in loop:
            print(text, end="", flush=True)
        print(loop.completion.usage, len(loop.history))

    - *json* is the first request (with its ``tools`` offered to the model);
      each round sends a deep copy of it whose history list (chat, Messages,
      Cohere ``messages``; Responses ``input``, a string input becoming one
      user message; Gemini ``contents``) is extended by the assistant turn
      (:meth:`Completion.to_messages`) and the tool results
      (:func:`ssekit.tool_results`). Earlier entries are never rewritten.
    - *tools* maps a tool name to a callable, called with the call's JSON
      arguments as keywords; it returns a string or a JSON-ready value. A tool
      that raises, a name not in *tools* and arguments that are not a JSON
      object become ``is_error`` results (the exception's type and message,
      API keys redacted; never a traceback), which the model reads. Parallel
      calls run one after the other, in the order the model made them.
    - *format* is the wire format; with ``"auto"`` the first answer's format
      (``completion.format``) is used from then on, both for the later
      streams and for the request shapes.
    - *max_rounds* bounds the answers streamed: when answer number
      *max_rounds* still asks for tools, :class:`ToolRoundsExceededError` is
      raised (its tools are not run), with that answer as ``.partial``.
    - *deadline* bounds the whole loop in seconds, tool runs included: each
      stream gets what is left of it, and once it has passed no further
      request is sent (:class:`StreamTimeoutError`, ``.partial`` the last answer).
    - *cancel* (a ``threading.Event``) or :meth:`ToolLoop.cancel` stop the
      loop from another thread: the stream under way ends quietly, no tool
      is run after it, ``.cancelled`` is True.
    - *timeout*, *retry*, *headers*, *api_key*, *on_event*,
      *max_event_size*, *max_retry_after*, *auth*, *verify*, *cert*, *proxies*, *params* go to
      every :func:`stream_completion` of the loop and mean what they mean
      there (retries are per round, before that round's output reached the
      caller). Without a *session*, the loop opens one for all its rounds.
    """
    secrets = Secrets.of_request(headers, url=url, auth=auth) + Secrets([api_key or os.environ.get(API_KEY_ENV) or ""])
    options = dict(headers=headers, api_key=api_key, timeout=timeout, retry=retry, on_event=on_event,
                   max_event_size=max_event_size, max_retry_after=max_retry_after, auth=auth, verify=verify, cert=cert, proxies=proxies,
                   params=params)  # type: Dict[str, Any]  # fmt: skip
    return ToolLoop(url, json, tools, format, max_rounds, deadline, cancel, session, secrets, options)
