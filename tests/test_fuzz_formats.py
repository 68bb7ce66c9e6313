"""Property tests of every accumulator on random valid and random corrupted streams.

Valid streams are generated here, independently of ``ssekit.testing.builders``:
random Unicode text in random pieces, parallel tool calls whose JSON
arguments are cut into random fragments (interleaved across calls where the
format allows it), usage present or absent, and harmless noise (pings,
events of unknown types, unknown fields, ``null`` optional fields). Each must
rebuild exactly the text, tool calls, usage and finish reason it was made
from, whatever noise is added, with ``add()`` returning the text deltas in
order and every snapshot consistent. Corrupted streams (truncated JSON, wrong
types, missing keys, ``null`` anywhere, unknown event types, dropped or
repeated events, non-object JSON) must give a result or an ``SSEKitError``
with ``.partial`` — never ``KeyError`` / ``TypeError`` / ``IndexError`` or
any other exception.

A seeded standard-library generator always runs; the same properties run
under ``hypothesis`` when it is installed.
"""
import copy
import json
import random
import unittest
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ssekit import Completion, SSEKitError, ServerSentEvent, ToolCall, Usage, accumulate, iter_sse
from ssekit.formats import FORMATS, new_accumulator
from ssekit.testing.builders import build_events

from .sizes import scaled

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_HYPOTHESIS = False

#: Valid streams per format drawn by the seeded generator.
SEEDED_STREAMS = scaled(100)
#: Corrupted variants of each seeded stream.
CORRUPTIONS = 6
#: Examples hypothesis draws per property.
HYPOTHESIS_EXAMPLES = scaled(60)

Event = Tuple[Optional[str], Any]  # (SSE event name or None, decoded JSON payload or a data string)

# --- what a stream is made from ------------------------------------------------------


class Spec(NamedTuple):
    """The answer a generated stream carries, and how it is cut into events."""

    pieces: List[str]
    tool_calls: List[Tuple[str, str, str]]  # (id, name, arguments JSON)
    fragments: List[List[str]]  # each call's arguments, cut into pieces
    usage: Optional[Tuple[int, int]]  # (input, output) tokens, or None when not reported
    noise: bool

    @property
    def text(self) -> str:
        return "".join(self.pieces)


TEXT_ALPHABET = "ab \n\t\"\\/{}[]:,\u00e9\u00df\u20ac\u65e5\u672c\u0416\u05d0\U0001f600\U0001f44d\u200d\ufeff\u2028\x00\x7f"
NAMES = ["get_weather", "search", "f", "lookup_\u00e9", "a.b-c"]


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(TEXT_ALPHABET) for _ in range(rng.randint(0, 8)))


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value (objects at the top), Unicode and escapes included."""
    roll = rng.random()
    if depth == 0 or (depth < 3 and roll < 0.3):
        return {random_text(rng) or "k": random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 3 and roll < 0.45:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice([None, True, False, rng.randint(-10 ** 6, 10 ** 6), rng.random(), random_text(rng)])


def cut(text: str, rng: random.Random) -> List[str]:
    """*text* cut at random places into non-empty pieces (escapes and surrogate pairs may be split)."""
    if not text:
        return []
    cuts = sorted(set(rng.randint(1, len(text)) for _ in range(rng.randint(0, max(1, len(text) // 3)))))
    bounds = [0] + [c for c in cuts if c < len(text)] + [len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def random_spec(rng: random.Random, format: str) -> Spec:
    pieces = [piece for piece in (random_text(rng) for _ in range(rng.randint(0, 12))) if piece]
    calls = []  # type: List[Tuple[str, str, str]]
    if format != "generation":
        for number in range(rng.choice([0, 0, 1, 2, 3])):
            arguments = json.dumps(random_json(rng), ensure_ascii=rng.random() < 0.5)
            calls.append(("call_%d_%d" % (number, rng.randint(0, 999)), rng.choice(NAMES), arguments))
    fragments = [cut(arguments, rng) for _, _, arguments in calls]
    usage = (rng.randint(0, 5000), rng.randint(0, 5000)) if rng.random() < 0.7 else None
    return Spec(pieces, calls, fragments, usage, rng.random() < 0.5)


def interleave(queues: Sequence[Sequence[Any]], rng: random.Random) -> List[Tuple[int, Any]]:
    """(queue number, item) for every item, each queue in order, the queues randomly interleaved."""
    positions = [0] * len(queues)
    out = []
    while True:
        open_queues = [i for i, queue in enumerate(queues) if positions[i] < len(queue)]
        if not open_queues:
            return out
        i = rng.choice(open_queues)
        out.append((i, queues[i][positions[i]]))
        positions[i] += 1


# --- the wire formats, written from the vendors' documentation -----------------------


def chat_stream(spec: Spec, rng: random.Random) -> List[Event]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x"}

    def chunk(delta: Dict[str, Any], finish: Optional[str] = None, **extra: Any) -> Event:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return None, dict(head, choices=[choice], **extra)

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": piece}) for piece in spec.pieces]
    queues = []
    for index, ((call_id, name, _), fragments) in enumerate(zip(spec.tool_calls, spec.fragments)):
        opening = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        queues.append([opening] + [{"index": index, "function": {"arguments": piece}} for piece in fragments])
    pending = [delta for _, delta in interleave(queues, rng)]
    while pending:  # one or several fragments per chunk, as providers do
        take = rng.randint(1, 3)
        events.append(chunk({"tool_calls": pending[:take]}))
        pending = pending[take:]
    events.append(chunk({}, "tool_calls" if spec.tool_calls else "stop"))
    if spec.usage is not None:
        prompt, completion = spec.usage
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        events.append((None, dict(head, choices=[], usage=usage)))
    events.append((None, "[DONE]"))
    return events


def responses_stream(spec: Spec, rng: random.Random) -> List[Event]:
    events = []  # type: List[Event]

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, dict(type=kind, sequence_number=len(events), **fields)))

    response = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "gpt-x", "output": [], "usage": None}
    emit("response.created", response=response)
    output = []  # type: List[Dict[str, Any]]
    if spec.pieces:
        message = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        emit("response.output_item.added", output_index=0, item=message)
        emit("response.content_part.added", item_id="msg_1", output_index=0, content_index=0, part={"type": "output_text", "text": ""})
        for piece in spec.pieces:
            emit("response.output_text.delta", item_id="msg_1", output_index=0, content_index=0, delta=piece)
        part = {"type": "output_text", "text": spec.text, "annotations": []}
        emit("response.output_text.done", item_id="msg_1", output_index=0, content_index=0, text=spec.text)
        emit("response.content_part.done", item_id="msg_1", output_index=0, content_index=0, part=part)
        output.append(dict(message, status="completed", content=[part]))
        emit("response.output_item.done", output_index=0, item=output[-1])
    first = len(output)
    items = []
    for number, (call_id, name, arguments) in enumerate(spec.tool_calls):
        item = {"id": "fc_%d" % number, "type": "function_call", "call_id": call_id, "name": name, "arguments": ""}
        items.append(item)
        emit("response.output_item.added", output_index=first + number, item=dict(item, status="in_progress"))
    queues = [[("delta", piece) for piece in fragments] + [("done", None)] for fragments in spec.fragments]
    for number, (kind, piece) in interleave(queues, rng):
        where = {"item_id": "fc_%d" % number, "output_index": first + number}
        if kind == "delta":
            emit("response.function_call_arguments.delta", delta=piece, **where)
        else:
            arguments = spec.tool_calls[number][2]
            emit("response.function_call_arguments.done", arguments=arguments, **where)
            emit("response.output_item.done", output_index=first + number, item=dict(items[number], arguments=arguments, status="completed"))
    output += [dict(item, arguments=call[2], status="completed") for item, call in zip(items, spec.tool_calls)]
    usage = None
    if spec.usage is not None:
        usage = {"input_tokens": spec.usage[0], "output_tokens": spec.usage[1], "total_tokens": sum(spec.usage)}
    emit("response.completed", response=dict(response, status="completed", output=output, usage=usage))
    return events


def messages_stream(spec: Spec, rng: random.Random) -> List[Event]:
    events = []  # type: List[Event]

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, dict(type=kind, **fields)))

    input_tokens, output_tokens = spec.usage if spec.usage is not None else (None, None)
    start_usage = {"input_tokens": input_tokens, "output_tokens": 1} if spec.usage is not None else None
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": start_usage}  # fmt: skip
    emit("message_start", message=message)
    index = 0
    if spec.pieces:
        emit("content_block_start", index=index, content_block={"type": "text", "text": ""})
        emit("ping")
        for piece in spec.pieces:
            emit("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
        emit("content_block_stop", index=index)
        index += 1
    for (call_id, name, _), fragments in zip(spec.tool_calls, spec.fragments):
        emit("content_block_start", index=index, content_block={"type": "tool_use", "id": call_id, "name": name, "input": {}})
        for piece in [""] + fragments:
            emit("content_block_delta", index=index, delta={"type": "input_json_delta", "partial_json": piece})
        emit("content_block_stop", index=index)
        index += 1
    delta = {"stop_reason": "tool_use" if spec.tool_calls else "end_turn", "stop_sequence": None}
    emit("message_delta", delta=delta, usage={"output_tokens": output_tokens} if spec.usage is not None else None)
    emit("message_stop")
    return events


def generation_stream(spec: Spec, rng: random.Random) -> List[Event]:
    events = [(None, {"type": "generation_start", "id": "gen_1", "model": "gw"})]  # type: List[Event]
    events += [(None, {"type": "content_delta", "delta": piece}) for piece in spec.pieces]
    end = {"type": "generation_end", "balance_remaining": 99}  # type: Dict[str, Any]
    if spec.usage is not None:
        end["tokens_used"] = sum(spec.usage)
    events += [(None, end), (None, "[DONE]")]
    return events


def mixed_case(word: str, rng: random.Random) -> str:
    """*word* as sent, lower-cased or with random letters upper-cased (finish reasons match whatever their case)."""
    return rng.choice([word, word.lower(), "".join(rng.choice([c.upper(), c.lower()]) for c in word)])


def cohere_stream(spec: Spec, rng: random.Random) -> List[Event]:
    """Cohere v2 chat: hyphenated types, ONE call per tool-call event, usage in message-end."""
    events = []  # type: List[Event]

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, dict(type=kind, **fields)))

    start = {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}
    events.append(("message-start", {"id": "c0-1", "type": "message-start", "delta": start}))
    if spec.pieces:
        emit("content-start", index=0, delta={"message": {"content": {"type": "text", "text": ""}}})
        for piece in spec.pieces:
            emit("content-delta", index=0, delta={"message": {"content": {"text": piece}}}, logprobs=None)
        emit("content-end", index=0)
    if spec.tool_calls:
        for piece in cut(random_text(rng), rng):
            emit("tool-plan-delta", delta={"message": {"tool_plan": piece}})
    for index, ((call_id, name, _), fragments) in enumerate(zip(spec.tool_calls, spec.fragments)):
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        emit("tool-call-start", index=index, delta={"message": {"tool_calls": call}})
        for piece in fragments:
            emit("tool-call-delta", index=index, delta={"message": {"tool_calls": {"function": {"arguments": piece}}}})
        emit("tool-call-end", index=index)
    end = {"finish_reason": mixed_case("TOOL_CALL" if spec.tool_calls else rng.choice(["COMPLETE", "STOP_SEQUENCE"]), rng)}  # type: Dict[str, Any]
    if spec.usage is not None:
        tokens = {"input_tokens": spec.usage[0], "output_tokens": spec.usage[1]}
        end["usage"] = {"billed_units": {"input_tokens": rng.randint(0, 50), "output_tokens": spec.usage[1]}, "tokens": tokens}
    emit("message-end", delta=end)
    return events


def gemini_stream(spec: Spec, rng: random.Random) -> List[Event]:
    """Whole parts (1-3 per chunk; calls with ``args`` objects, a thoughtSignature on the first), running
    usage snapshots, the finish reason on the last part's chunk or on a final empty-text one, and no [DONE]."""
    head = {"modelVersion": "gemini-x", "responseId": "r1"}
    prompt, made = spec.usage if spec.usage is not None else (0, 0)

    def chunk(parts: List[Dict[str, Any]], finish: Optional[str] = None, sent: Optional[int] = None) -> Event:
        candidate = {"content": {"parts": parts, "role": "model"}, "index": 0}  # type: Dict[str, Any]
        if finish is not None:
            candidate["finishReason"] = finish
        payload = dict(head, candidates=[candidate])  # type: Dict[str, Any]
        if spec.usage is not None:  # a running snapshot: the final one is exact
            out = made if finish else min(made, sent or 0)
            payload["usageMetadata"] = {"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out}
        return None, payload

    parts = [{"text": piece} for piece in spec.pieces]  # type: List[Dict[str, Any]]
    for number, (call_id, name, arguments) in enumerate(spec.tool_calls):
        function = {"name": name, "args": json.loads(arguments), "id": call_id}
        parts.append(dict({"functionCall": function}, **({"thoughtSignature": "sig"} if number == 0 else {})))
    groups = []  # type: List[List[Dict[str, Any]]]
    while parts:
        take = rng.randint(1, 3)
        groups.append(parts[:take])
        parts = parts[take:]
    events = [chunk(group, sent=number) for number, group in enumerate(groups, 1)]
    if groups and rng.random() < 0.5:
        events[-1] = chunk(groups[-1], "STOP")
    else:
        events.append(chunk([rng.choice([{"text": ""}, {"text": "", "thoughtSignature": "end"}])], "STOP"))
    unspecified = (None, dict(head, candidates=[{"index": 0, "finishReason": "FINISH_REASON_UNSPECIFIED"}]))  # type: Event
    events.insert(rng.randint(0, len(events) - 1), unspecified)  # (never an end)
    return events


STREAMS = {
    "chat_completions": chat_stream,
    "responses": responses_stream,
    "messages": messages_stream,
    "generation": generation_stream,
    "cohere": cohere_stream,
    "gemini": gemini_stream,
}  # type: Dict[str, Callable[[Spec, random.Random], List[Event]]]

UNKNOWN_EVENTS = {
    "chat_completions": [(None, {"object": "chat.completion.chunk", "choices": [], "x_gateway": {"note": "hi"}})],
    "responses": [("response.audio.delta", {"type": "response.audio.delta", "delta": "AAAA"}),
                  ("response.web_search_call.in_progress", {"type": "response.web_search_call.in_progress", "output_index": 9})],
    "messages": [("ping", {"type": "ping"}), ("content_block_weird", {"type": "content_block_weird", "index": 0})],
    "generation": [(None, {"type": "heartbeat"}), (None, {"type": "moderation", "flagged": False})],
    "cohere": [("debug", {"type": "debug", "prompt": "<BOS_TOKEN>..."}), ("citation-end", {"type": "citation-end", "index": 0}),
               ("future-event", {"type": "future-event", "index": 3})],
    "gemini": [(None, {"modelVersion": "gemini-x", "responseId": "r1"}), (None, {"candidates": [], "promptFeedback": {"safetyRatings": []}}),
               (None, {"candidates": [{"index": 0, "content": {"role": "model", "parts": []}, "safetyRatings": [{"category": "X"}]}]})],
}  # type: Dict[str, List[Event]]  # fmt: skip


def add_noise(events: List[Event], format: str, rng: random.Random) -> List[Event]:
    """Harmless changes: unknown events between the real ones, unknown fields and null extras in each."""
    noisy = []  # type: List[Event]
    for name, payload in events:
        if rng.random() < 0.3 and name is None or (name and rng.random() < 0.3):
            noisy.append(copy.deepcopy(rng.choice(UNKNOWN_EVENTS[format])))
        if isinstance(payload, dict):
            payload = dict(payload, x_unknown=rng.choice([None, 1, "s", [], {"a": None}]), obfuscation=None)
        noisy.append((name, payload))
    return noisy


def expected_usage(format: str, spec: Spec) -> Usage:
    if spec.usage is None:
        return Usage()
    prompt, completion = spec.usage
    if format == "generation":
        return Usage(None, None, prompt + completion)
    return Usage(prompt, completion, prompt + completion)


def expected_arguments(format: str, arguments: str) -> str:
    """A call's arguments as the format's result holds them: Gemini's come as an object, encoded by ssekit."""
    if format != "gemini":
        return arguments
    value = json.loads(arguments)
    return json.dumps(value, ensure_ascii=False) if value else ""


def as_data(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)


def to_bytes(events: List[Event]) -> bytes:
    """The events on the wire (``data:`` lines split at newlines, which json.dumps never emits)."""
    out = []
    for name, payload in events:
        head = "event: %s\n" % name if name else ""
        out.append("%sdata: %s\n\n" % (head, as_data(payload)))
    return "".join(out).encode("utf-8", "surrogatepass")


# --- corruption -------------------------------------------------------------------------

WRONG_VALUES = [None, None, "", "x", 0, -1, 2 ** 70, 1.5, True, [], {}, [None], [[]], {"type": None}, "[DONE]", {"index": "0"}]


def nested_paths(value: Any, prefix: Tuple[Any, ...] = ()) -> List[Tuple[Any, ...]]:
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found.append(prefix + (key,))
        found.extend(nested_paths(child, prefix + (key,)))
    return found


def corrupt_payload(payload: Any, rng: random.Random) -> Any:
    """One corruption: a wrong type or null anywhere, a deleted key, an unknown type, broken or non-object JSON."""
    if not isinstance(payload, dict):
        return rng.choice(["[DONE", "", "null", "{", payload + "x"])
    document = copy.deepcopy(payload)
    paths = nested_paths(document)
    kind = rng.choice(["wrong", "wrong", "wrong", "delete", "delete", "type", "truncate", "non_object"])
    if kind == "truncate":
        text = json.dumps(payload)
        return text[: rng.randrange(0, len(text))]
    if kind == "non_object":
        return json.dumps(rng.choice([[payload], 5, "s", None, True]))
    if kind == "type" or not paths:
        document["type"] = rng.choice(["mystery", "response.unknown", "content_block_delta", "error", 5, None, "message_delta"])
        return document
    where = rng.choice(paths)
    parent = document
    for key in where[:-1]:
        parent = parent[key]
    if kind == "delete" and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = copy.deepcopy(rng.choice(WRONG_VALUES))
    return document


def corrupt_stream(events: List[Event], rng: random.Random) -> List[Event]:
    """1-3 corruptions of payloads, sometimes with an event dropped, repeated or moved."""
    events = list(events)
    for _ in range(rng.randint(1, 3)):
        index = rng.randrange(len(events))
        name, payload = events[index]
        events[index] = (name, corrupt_payload(payload, rng))
    roll = rng.random()
    if roll < 0.15:
        del events[rng.randrange(len(events))]
    elif roll < 0.3:
        index = rng.randrange(len(events))
        events.insert(index, events[index])
    elif roll < 0.4:
        events.insert(rng.randrange(len(events) + 1), events.pop(rng.randrange(len(events))))
    return events


# --- the properties -------------------------------------------------------------------------


class FormatProperties:
    """Checks shared by the seeded and the hypothesis tests (a mixin of TestCase)."""

    assertEqual: Callable[..., None]
    assertIsInstance: Callable[..., None]
    assertTrue: Callable[..., None]
    fail: Callable[..., None]

    def check_valid(self, format: str, spec: Spec, rng: random.Random) -> None:
        """A valid stream rebuilds exactly its spec, through add() and through bytes + accumulate()."""
        events = STREAMS[format](spec, rng)
        if spec.noise:
            events = add_noise(events, format, rng)
        context = "%s stream of %r" % (format, spec)
        accumulator = new_accumulator(format)
        deltas = []
        polled = []  # type: List[Tuple[int, Completion]]
        for count, (name, payload) in enumerate(events, 1):
            delta = accumulator.add(ServerSentEvent(name or "message", as_data(payload)))
            deltas.append(delta)
            polled.append((count, accumulator.completion))
            self.assertEqual(accumulator.completion.text, "".join(deltas), context)
        completion = accumulator.finish()
        self.check_snapshots(format, events, polled, rng, context)
        calls = [ToolCall(index, call_id, name, expected_arguments(format, arguments))
                 for index, (call_id, name, arguments) in enumerate(spec.tool_calls)]  # fmt: skip
        self.assertEqual(completion.text, spec.text, context)
        self.assertEqual(completion.tool_calls, calls, context)
        self.assertEqual(completion.usage, expected_usage(format, spec), context)
        self.assertEqual(completion.finish_reason, "tool_calls" if calls else "stop", context)
        self.assertTrue(completion.complete, context)
        self.assertEqual(completion.format, format, context)
        for call, (_, _, arguments) in zip(completion.tool_calls, spec.tool_calls):
            self.assertEqual(call.parse_arguments(), json.loads(arguments), context)
        self.assertEqual(json.loads(completion.to_json())["text"], spec.text, context)
        # The same stream as bytes, cut at random, read with format detection.
        data = to_bytes(events)
        cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(0, 12)))
        chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        self.assertEqual(accumulate(iter_sse(chunks), "auto"), completion, context)

    def check_snapshots(self, kind: str, events: List[Event], polled: List[Tuple[int, Completion]], rng: random.Random, context: str) -> None:
        """Snapshots taken after each event and read only now, after the rest, hold what a new accumulator
        given the same events holds: what a snapshot shares with the one before it (while events only grow
        a text) is never stale and never changes afterwards. A few of them, at random, and the last."""
        chosen = [entry for entry in polled[:-1] if rng.random() < 6 / len(polled)] + polled[-1:]
        for count, snapshot in chosen:
            fresh = new_accumulator(kind)
            for name, payload in events[:count]:
                fresh.add(ServerSentEvent(name or "message", as_data(payload)))
            self.assertEqual(snapshot.to_dict(), fresh.completion.to_dict(), "after %d events of the %s" % (count, context))

    def check_corrupted(self, format: str, events: List[Event], rng: random.Random) -> Optional[SSEKitError]:
        """A corrupted *events* gives a Completion or an SSEKitError with .partial; nothing else escapes."""
        events = corrupt_stream(events, rng)
        kind = rng.choice([format, "auto"])
        accumulator = new_accumulator(kind)
        polled = []  # type: List[Tuple[int, Completion]]
        try:
            for count, (name, payload) in enumerate(events, 1):
                accumulator.add(ServerSentEvent(name or "message", as_data(payload)))
                polled.append((count, accumulator.completion))
                accumulator.completion.to_json()  # a snapshot can always be taken
            completion = accumulator.finish()
        except SSEKitError as error:
            self.check_snapshots(kind, events, polled, rng, "corrupted %s stream %r" % (kind, events))
            self.assertIsInstance(error.partial, type(accumulator.completion), "no .partial on %r" % error)
            self.assertTrue(str(error), "an empty message")
            error.partial.to_json()
            return error
        except Exception as error:  # pragma: no cover - the failure report
            self.fail("%s escaped for %s events %r" % (type(error).__name__, format, events))
        self.check_snapshots(kind, events, polled, rng, "corrupted %s stream %r" % (kind, events))
        completion.to_json()
        for call in completion.tool_calls:
            try:
                call.parse_arguments()
            except SSEKitError:
                pass
        return None


class SeededFormatFuzz(FormatProperties, unittest.TestCase):
    """The properties on streams from a seeded stdlib generator (always runs)."""

    def test_random_valid_streams_rebuild_exactly_what_they_carry(self) -> None:
        for format in STREAMS:
            rng = random.Random("valid-" + format)
            with self.subTest(format=format):
                for _ in range(SEEDED_STREAMS):
                    self.check_valid(format, random_spec(rng, format), rng)

    def test_random_corruptions_give_a_result_or_an_ssekit_error(self) -> None:
        outcomes = {}  # type: Dict[str, int]
        for format in STREAMS:
            rng = random.Random("corrupt-" + format)
            with self.subTest(format=format):
                for _ in range(SEEDED_STREAMS):
                    spec = random_spec(rng, format)
                    for _ in range(CORRUPTIONS):
                        error = self.check_corrupted(format, STREAMS[format](spec, rng), rng)
                        key = type(error).__name__ if error else "result"
                        outcomes[key] = outcomes.get(key, 0) + 1
        # Both outcomes really occur, and the errors are the clear kinds.
        self.assertGreater(outcomes.pop("result", 0), scaled(100), outcomes)
        self.assertTrue(set(outcomes) <= {"MalformedEventError", "IncompleteStreamError", "StreamError", "UnsupportedFormatError"}, outcomes)
        self.assertGreater(outcomes.get("MalformedEventError", 0), scaled(100), outcomes)

    def test_corrupted_builder_streams_with_reasoning_and_thinking(self) -> None:
        # The builders' streams carry what the generated ones do not: reasoning, thinking, signatures.
        for format in FORMATS:
            options = {"usage": {"input_tokens": 20, "output_tokens": 30}}  # type: Dict[str, Any]
            if format != "generation":
                options.update(tool_calls=[{"id": "call_1", "name": "f", "arguments": '{"a": [1, 2]}'}], reasoning="Hm.")
            events = [
                (sse.event, sse.data if sse.data == "[DONE]" else sse.json())
                for sse in iter_sse(build_events(format, "Sunny \u00b0C \u2014 ok.", **options))
            ]  # type: List[Event]
            rng = random.Random("builder-" + format)
            with self.subTest(format=format):
                for _ in range(CORRUPTIONS * 20):
                    self.check_corrupted(format, events, rng)

    def test_every_format_is_covered(self) -> None:
        self.assertEqual(sorted(STREAMS), sorted(FORMATS))

    def test_surrogate_halves_in_split_escapes_survive(self) -> None:
        # An emoji sent as a JSON escape pair, cut between the two escapes across fragments.
        arguments = '{"e": "\\ud83d\\ude00"}'
        spec = Spec(["x"], [("c1", "f", arguments)], [[arguments[:13], arguments[13:]]], None, False)
        for format in ("chat_completions", "responses", "messages", "cohere"):
            with self.subTest(format=format):
                self.check_valid(format, spec, random.Random(1))


if HAVE_HYPOTHESIS:
    _PIECES = st.lists(st.text(min_size=1, max_size=8), max_size=10)
    _CALLS = st.lists(
        st.tuples(
            st.text(alphabet="abcdef0123456789_", min_size=1, max_size=12),
            st.sampled_from(NAMES),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
                max_leaves=8,
            ),
            st.booleans(),
        ),
        max_size=3,
    )
    _USAGE = st.none() | st.tuples(st.integers(0, 10 ** 6), st.integers(0, 10 ** 6))

    def _spec(format: str, pieces: List[str], calls: List[Any], usage: Any, noise: bool, rng: random.Random) -> Spec:
        tool_calls = []
        if format != "generation":
            tool_calls = [("c%d_%s" % (i, call_id), name, json.dumps({"v": value}, ensure_ascii=ascii))
                          for i, (call_id, name, value, ascii) in enumerate(calls)]  # fmt: skip
        return Spec(pieces, tool_calls, [cut(arguments, rng) for _, _, arguments in tool_calls], usage, noise)

    def fuzz(*strategies: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """``@given(*strategies)`` with this file's settings."""
        checks = list(HealthCheck)  # (they measure the machine's speed and load, not ssekit)
        return lambda test: settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, suppress_health_check=checks)(
            given(*strategies)(test)
        )

    FORMAT_NAMES = st.sampled_from(sorted(STREAMS))
    RANDOMS = st.randoms(use_true_random=False)
    SPEC_PARTS = st.tuples(_PIECES, _CALLS, _USAGE, st.booleans())
else:  # pragma: no cover - the tests below are skipped
    FORMAT_NAMES = RANDOMS = SPEC_PARTS = None

    def fuzz(*strategies: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """No hypothesis: leave the test as it is (its class is skipped)."""
        return lambda test: test


@unittest.skipUnless(HAVE_HYPOTHESIS, "hypothesis not installed")
class HypothesisFormatFuzz(FormatProperties, unittest.TestCase):
    """The same properties with hypothesis drawing (and shrinking) text, calls and usage."""

    @fuzz(FORMAT_NAMES, SPEC_PARTS, RANDOMS)
    def test_random_valid_streams_rebuild_exactly_what_they_carry(self, format: str, parts: Any, rng: random.Random) -> None:
        self.check_valid(format, _spec(format, *parts, rng=rng), rng)

    @fuzz(FORMAT_NAMES, SPEC_PARTS, RANDOMS)
    def test_random_corruptions_give_a_result_or_an_ssekit_error(self, format: str, parts: Any, rng: random.Random) -> None:
        self.check_corrupted(format, STREAMS[format](_spec(format, *parts, rng=rng), rng), rng)


if __name__ == "__main__":
    unittest.main()
