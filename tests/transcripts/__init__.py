"""Byte-exact recorded provider streams (the ``*.sse`` files here) and the helpers that replay them.

``load(name)`` reads a transcript; ``replay(data, format)`` accumulates the
bytes in many chunkings (whole, byte by byte, random cuts) and checks they all
give the same Completion; ``feed(format, events)`` pushes events into a fresh
accumulator and returns it.
"""
import os
from typing import Any, Iterable

from ssekit import Completion, accumulate, iter_sse
from ssekit.formats import Accumulator, new_accumulator
from ssekit.testing.builders import chunkings

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name: str) -> bytes:
    """The bytes of transcript *name* (e.g. ``"chat_paris.sse"``)."""
    with open(os.path.join(HERE, name), "rb") as handle:
        return handle.read()


def replay(data: bytes, format: str = "auto", seed: int = 0) -> Completion:
    """The Completion of *data*; AssertionError if any chunking of the bytes gives another one."""
    results = [accumulate(iter_sse(chunks), format) for chunks in chunkings(data, seed=seed)]
    for number, result in enumerate(results[1:], 1):
        if result != results[0]:
            raise AssertionError("chunking %d gives %r, the whole stream %r" % (number, result, results[0]))
    return results[0]


def feed(format: str, events: Iterable[Any]) -> Accumulator:
    """A fresh accumulator of *format* that was given each of *events*."""
    accumulator = new_accumulator(format)
    for event in events:
        accumulator.add(event)
    return accumulator
