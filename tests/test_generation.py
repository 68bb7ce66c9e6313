"""GenerationAccumulator: simple gateway generation_start / content_delta / generation_end streams."""
import unittest

from ssekit import GenerationAccumulator, IncompleteStreamError, StreamError, accumulate, iter_sse
from ssekit.testing.builders import generation_events
from tests.transcripts import load, replay


class Streams(unittest.TestCase):
    def test_generation_start_content_delta_generation_end(self) -> None:
        completion = replay(load("generation.sse"), seed=11)
        self.assertEqual(completion.text, "Hello, world!")
        self.assertEqual((completion.id, completion.model, completion.format), ("gen_8f3k2m9x", "gateway-fast", "generation"))
        self.assertEqual(completion.usage.total_tokens, 12)
        self.assertIsNone(completion.usage.input_tokens)
        self.assertEqual(completion.usage.raw, {"tokens_used": 12, "balance_remaining": 4988})
        self.assertEqual(completion.finish_reason, "stop")
        self.assertTrue(completion.complete)

    def test_add_returns_each_delta(self) -> None:
        accumulator = GenerationAccumulator()
        printed = [accumulator.add(sse) for sse in iter_sse([load("generation.sse")])]
        self.assertEqual(printed, ["", "Hello", ", world", "!", "", ""])

    def test_builder_stream_with_finish_reason_and_usage(self) -> None:
        events = generation_events("A longer answer, in pieces.", usage={"tokens_used": 30}, finish_reason="length", balance_remaining=70)
        completion = accumulate(iter_sse(events), "generation")
        self.assertEqual(completion.text, "A longer answer, in pieces.")
        self.assertEqual((completion.finish_reason, completion.usage.total_tokens), ("length", 30))
        self.assertEqual(completion.usage.raw["balance_remaining"], 70)

    def test_generation_id_key_and_end_usage_object(self) -> None:
        accumulator = GenerationAccumulator()
        accumulator.add({"type": "generation_start", "generation_id": "g-42"})
        accumulator.add({"type": "generation_end", "usage": {"input_tokens": 4, "output_tokens": 6}, "tokens_used": 10})
        completion = accumulator.finish()
        self.assertEqual(completion.id, "g-42")
        self.assertEqual((completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.total_tokens), (4, 6, 10))

    def test_error_frame_raises_with_partial(self) -> None:
        events = generation_events("Some text", error="insufficient balance")
        with self.assertRaises(StreamError) as caught:
            accumulate(iter_sse(events))
        self.assertEqual(caught.exception.message, "insufficient balance")
        self.assertEqual(caught.exception.partial.text, "Some text")

    def test_done_without_generation_end_still_ends_properly(self) -> None:
        completion = accumulate(['{"type": "content_delta", "delta": "x"}', "[DONE]"], "generation")
        self.assertTrue(completion.complete)
        self.assertIsNone(completion.finish_reason)

    def test_cut_before_generation_end_is_incomplete(self) -> None:
        with self.assertRaises(IncompleteStreamError) as caught:
            accumulate(iter_sse(generation_events("Cut here")[:-2]))
        self.assertEqual(caught.exception.partial.text, "Cut here")
        self.assertIn("generation_end", str(caught.exception))

    def test_fallback_id_from_a_header(self) -> None:
        accumulator = GenerationAccumulator(fallback_id="x-generation-id-9")
        accumulator.add({"type": "content_delta", "delta": "hi"})
        self.assertEqual(accumulator.completion.id, "x-generation-id-9")


if __name__ == "__main__":
    unittest.main()
