"""Helpers shared by the tests: counting file descriptors, waiting for servers to settle, and
the few checks that only CPython can pass (skipped elsewhere with the reason printed)."""
import contextlib
import functools
import os
import platform
import sys
import threading
import time
import unittest
from types import ModuleType
from typing import Any, Callable, Iterator, Optional, Sequence, TypeVar, Union, cast

import requests

from ssekit.http import close_session

FD_DIR = "/proc/self/fd"
#: Whether this platform lets the tests count open file descriptors.
HAS_PROC_FD = os.path.isdir(FD_DIR)
#: Whether the tests run on PyPy, whose garbage collector closes an abandoned generator late.
PYPY = platform.python_implementation() == "PyPy"
#: Why a check that needs CPython's reference counting is skipped on PyPy.
REFCOUNT_REASON = (
    "`break` leaves the loop's generator to the garbage collector, which closes it at once on CPython "
    "(reference counting) and only later on PyPy; the check after leaving the `with` block or calling "
    "close() runs everywhere"
)
#: Why the memory measurements are skipped where the standard library has no tracemalloc.
TRACEMALLOC_REASON = "tracemalloc is not available on this interpreter (PyPy has none): memory not measured"


def _load_tracemalloc() -> Optional[ModuleType]:
    """The ``tracemalloc`` module, or None where the interpreter lacks it (PyPy ships a stub that fails)."""
    try:
        import tracemalloc
    except ImportError:
        return None
    return tracemalloc


#: ``tracemalloc``, or None on interpreters without it.
tracemalloc = _load_tracemalloc()


class PeakMemory:
    """``with PeakMemory() as memory:`` traces allocations in the block; ``memory.peak`` is the peak
    in bytes, or None where there is no tracemalloc (the block still runs: its other checks hold)."""

    def __init__(self) -> None:
        self.peak = None  # type: Optional[int]

    def __enter__(self) -> "PeakMemory":
        if tracemalloc is not None:
            tracemalloc.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if tracemalloc is not None:
            self.peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()


def assert_peak_below(test: unittest.TestCase, memories: Union[PeakMemory, Sequence[PeakMemory]], limit: float) -> None:
    """Fail *test* unless each traced peak of *memories* is under *limit* bytes; skip it once (reason
    printed) where nothing could be traced. Call it last: the test's other assertions have run by then."""
    for memory in [memories] if isinstance(memories, PeakMemory) else memories:
        if memory.peak is None:
            skip_with_reason(test, TRACEMALLOC_REASON)
        else:
            test.assertLess(memory.peak, limit, "peak traced memory %d bytes, limit %d" % (memory.peak, limit))


@contextlib.contextmanager
def closing_session() -> Iterator[requests.Session]:
    """A ``requests.Session`` whose idle pooled sockets are closed when the block ends.

    ``Session.close()`` leaves them to the garbage collector under urllib3 2
    (psf/requests#6573): at once on CPython, later on PyPy. The tests that
    count file descriptors close them as ssekit closes the sessions it opens.
    """
    session = requests.Session()
    try:
        yield session
    finally:
        close_session(session)


def skip_with_reason(test: unittest.TestCase, reason: str) -> None:
    """Skip *test*, printing *reason* on stderr: a skip must show in the plain (non-verbose) output too."""
    print("\nskipped %s: %s" % (test.id(), reason), file=sys.stderr)
    raise unittest.SkipTest(reason)


Method = TypeVar("Method", bound=Callable[..., Any])


def cpython_only(reason: str) -> Callable[[Method], Method]:
    """Decorate a test that holds only under CPython's reference counting: on PyPy it is skipped,
    with *reason* printed (see :func:`skip_with_reason`)."""

    def decorate(method: Method) -> Method:
        if not PYPY:
            return method

        @functools.wraps(method)
        def skipped(test: unittest.TestCase, *args: Any, **kwargs: Any) -> None:
            skip_with_reason(test, "skipped on PyPy: " + reason)

        return cast(Method, skipped)

    return decorate


def open_fds() -> Optional[int]:
    """How many file descriptors this process holds (None where /proc is missing)."""
    try:
        return len(os.listdir(FD_DIR))
    except OSError:
        return None


def settle(condition: Callable[[], object], timeout: float = 3.0) -> bool:
    """Poll *condition* until it holds or *timeout* passes; its last value.

    The in-process server closes its side of a connection asynchronously.
    """
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    return bool(condition())


def assert_back_to(test: unittest.TestCase, fds_before: Optional[int], threads_before: int) -> None:
    """Fail *test* unless threads and file descriptors settle back to their counts from before."""
    test.assertTrue(
        settle(lambda: threading.active_count() <= threads_before),
        "threads: %d before, %d after" % (threads_before, threading.active_count()),
    )
    if fds_before is not None:
        test.assertTrue(
            settle(lambda: (open_fds() or 0) <= fds_before),
            "file descriptors: %d before, %s after" % (fds_before, open_fds()),
        )
