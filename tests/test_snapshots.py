"""Snapshots taken after every event (a progress display's ``accumulator.completion``) share what they can.

While events only grow a text already in the output, a snapshot shares the
last one's frozen output and fields (``formats.base._Epoch``). These streams
mix such events with the ones that must end the sharing (a new block or tool
call, a finish reason on a text chunk, a role, extras, ids, a text replaced
whole, new usage), and check that every snapshot, read only after the whole
stream, holds what a new accumulator given the same events holds.
"""
import json
import unittest
from typing import Any, List, Optional, Tuple

from ssekit import ServerSentEvent
from ssekit.formats import new_accumulator

Event = Tuple[Optional[str], Any]


def chat(delta: Any, reason: Any = None, **extra: Any) -> Event:
    return (None, dict({"object": "chat.completion.chunk", "id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}, **extra))


CHAT = [
    chat({"role": "assistant", "content": ""}),
    chat({"content": "Hel"}),
    chat({"content": "lo"}),
    chat({"reasoning_content": "hm"}),
    chat({"content": " there"}),
    chat({"tool_calls": [{"index": 0, "id": "t1", "function": {"name": "f", "arguments": ""}}]}),
    chat({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\""}}]}),
    chat({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
    chat({"content": "!"}),
    (None, {"object": "chat.completion.chunk", "id": "c1", "model": "m",
            "choices": [{"index": 0, "delta": {"content": "a"}}, {"index": 0, "delta": {"refusal": "no"}}]}),  # fmt: skip
    chat({"content": "."}, usage={"prompt_tokens": 3, "completion_tokens": 4}),
    chat({"content": "end"}, "stop"),
    chat({}, None, usage={"prompt_tokens": 3, "completion_tokens": 9}, choices=[]),
    (None, "[DONE]"),
]

MESSAGES = [
    ("message_start", {"type": "message_start", "message": {"id": "m1", "model": "claude", "role": "assistant", "content": [], "usage": {"input_tokens": 5}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " you"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "citations_delta", "citation": {"cited_text": "x"}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "."}}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
    ("message_stop", {"type": "message_stop"}),
]

RESPONSES = [
    (None, {"type": "response.created", "response": {"id": "r1", "model": "gpt", "status": "in_progress", "output": []}}),
    (None, {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "i1", "role": "assistant", "content": []}}),
    (None, {"type": "response.content_part.added", "output_index": 0, "content_index": 0, "item_id": "i1", "part": {"type": "output_text", "text": ""}}),
    (None, {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "item_id": "i1", "delta": "Hel"}),
    (None, {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "item_id": "i1", "delta": "lo"}),
    (None, {"type": "response.output_text.done", "output_index": 0, "content_index": 0, "item_id": "i1", "text": "Hello, replaced"}),
    (None, {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "item_id": "i1", "delta": "!"}),
    (None, {"type": "response.completed", "response": {"id": "r1", "model": "gpt", "status": "completed", "usage": {"input_tokens": 1, "output_tokens": 2}}}),
]

COHERE = [
    ("message-start", {"type": "message-start", "id": "k1", "delta": {"message": {"role": "assistant"}}}),
    ("content-start", {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
    ("content-delta", {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Bon"}}}}),
    ("content-delta", {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "jour"}}}}),
    ("content-end", {"type": "content-end", "index": 0}),
    ("message-end", {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {"billed_units": {"input_tokens": 2, "output_tokens": 3}}}}),
]


def gemini(parts: List[Any], reason: Optional[str] = None, tokens: int = 1, **candidate: Any) -> Event:
    candidate = dict(candidate, content={"parts": parts, "role": candidate.pop("role", "model")}, index=0)
    if reason:
        candidate["finishReason"] = reason
    return (None, {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": tokens},
                   "modelVersion": "g", "responseId": "g1"})  # fmt: skip


GEMINI = [
    gemini([{"text": "Hel"}]),
    gemini([{"text": "lo"}], tokens=2),
    gemini([{"text": "..."}], tokens=3, role="assistant"),
    gemini([{"text": "hm", "thought": True}], tokens=4),
    gemini([{"text": " you"}], tokens=5),
    gemini([{"text": "!"}], tokens=6, safetyRatings=[]),
    gemini([{"text": "?"}], tokens=7),
    gemini([{"text": ""}], "STOP", tokens=7),
]

GENERATION = [
    (None, {"type": "generation_start", "id": "g1", "model": "m"}),
    (None, {"type": "content_delta", "delta": "a"}),
    (None, {"type": "content_delta", "delta": "b"}),
    (None, {"type": "generation_end", "finish_reason": "stop", "usage": {"input_tokens": 1, "output_tokens": 2}}),
]

STREAMS = {
    "chat_completions": CHAT, "messages": MESSAGES, "responses": RESPONSES, "cohere": COHERE, "gemini": GEMINI, "generation": GENERATION,
}  # fmt: skip


def sse(event: Event) -> ServerSentEvent:
    name, payload = event
    return ServerSentEvent(name or "message", payload if isinstance(payload, str) else json.dumps(payload))


class PolledSnapshots(unittest.TestCase):
    def test_every_snapshot_holds_what_a_new_accumulator_holds(self) -> None:
        for format, events in STREAMS.items():
            for kind in (format, "auto"):
                with self.subTest(format=format, kind=kind):
                    accumulator = new_accumulator(kind)
                    snapshots = []
                    for event in events:
                        accumulator.add(sse(event))
                        snapshots.append(accumulator.completion)
                        snapshots.append(accumulator.completion)  # (two in a row: the second shares the first's all)
                    self.assertTrue(accumulator.finish().complete)
                    for number, snapshot in enumerate(snapshots):
                        fresh = new_accumulator(kind)
                        for event in events[: number // 2 + 1]:
                            fresh.add(sse(event))
                        self.assertEqual(snapshot.to_dict(), fresh.completion.to_dict(), "after %d events" % (number // 2 + 1))

    def test_a_snapshot_read_early_does_not_change_later(self) -> None:
        for format, events in STREAMS.items():
            with self.subTest(format=format):
                accumulator = new_accumulator(format)
                read = []
                for event in events:
                    accumulator.add(sse(event))
                    snapshot = accumulator.completion
                    read.append((snapshot, snapshot.to_dict()))
                for snapshot, then in read:
                    self.assertEqual(snapshot.to_dict(), then)

    def test_an_event_that_makes_the_stream_recognized_ends_the_sharing(self) -> None:
        # After a foreign event and [DONE], the stream is not complete; a first event of the format makes
        # it so, even when that event only adds text.
        accumulator = new_accumulator("generation")
        accumulator.add(sse((None, {"type": "something_else"})))
        accumulator.add(sse((None, "[DONE]")))
        self.assertFalse(accumulator.completion.complete)
        accumulator.add(sse((None, {"type": "content_delta", "delta": "a"})))
        self.assertEqual((accumulator.completion.complete, accumulator.completion.text), (True, "a"))

    def test_events_that_change_whether_a_chat_stream_is_complete_end_the_sharing(self) -> None:
        # Chat chunks end the sharing in the paths that change more than a text (Accumulator._epoch).
        accumulator = new_accumulator("chat_completions")
        accumulator.add(sse((None, "[DONE]")))
        self.assertTrue(accumulator.completion.complete)
        accumulator.add(sse((None, {"something": "else"})))  # a foreign event: no longer a proper chat stream
        self.assertFalse(accumulator.completion.complete)
        accumulator.add(sse((None, {"usage": {"prompt_tokens": 1}})))
        self.assertTrue(accumulator.completion.complete)  # recognized by its usage chunk

    def test_a_usage_chunk_that_makes_a_gemini_stream_recognized_ends_the_sharing(self) -> None:
        # Not a Gemini stream (a foreign event) until its usage chunk; its ids came before, so no id ends the sharing.
        events = [(None, {"something": "else"}), (None, {"responseId": "r1", "modelVersion": "g"}), (None, "[DONE]"),
                  (None, {"usageMetadata": {"promptTokenCount": 1}})]  # type: List[Event]  # fmt: skip
        accumulator = new_accumulator("gemini")
        snapshots = []
        for event in events:
            accumulator.add(sse(event))
            snapshots.append(accumulator.completion)
        for count, snapshot in enumerate(snapshots, 1):
            fresh = new_accumulator("gemini")
            for event in events[:count]:
                fresh.add(sse(event))
            self.assertEqual(snapshot.to_dict(), fresh.completion.to_dict(), "after %d events" % count)
        self.assertEqual((snapshots[2].complete, snapshots[3].complete), (False, True))

    def test_the_sharing_happens(self) -> None:
        # Text-only events share the output: the snapshot after one holds no frozen copy of its own.
        accumulator = new_accumulator("chat_completions")
        for event in CHAT[:3]:
            accumulator.add(sse(event))
        first = accumulator.completion
        accumulator.add(sse(chat({"content": "!"})))
        second = accumulator.completion
        self.assertIs(first._fields, second._fields)
        self.assertEqual((first.text, second.text), ("Hello", "Hello!"))
        accumulator.add(sse(chat({"content": "?"}, "stop")))  # a finish reason: new fields
        third = accumulator.completion
        self.assertIsNot(third._fields, second._fields)
        self.assertEqual((third.text, third.finish_reason, second.finish_reason), ("Hello!?", "stop", None))


if __name__ == "__main__":
    unittest.main()
