"""Helpers shared by the tests that count file descriptors and wait for servers to settle."""
import os
import threading
import time
import unittest
from typing import Callable, Optional

FD_DIR = "/proc/self/fd"
#: Whether this platform lets the tests count open file descriptors.
HAS_PROC_FD = os.path.isdir(FD_DIR)


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
