"""Load: 1,000 sequential streams and 50 concurrent ones on one session, nothing leaked.

Every stream is tiny and answers its own request (``answer N``), so a result
delivered to the wrong caller would show. The local server counts TCP
connections: a stream read to its end hands its connection back to the pool,
a stream left early closes its connection. File descriptors
(``/proc/self/fd``) and ``threading.active_count()`` must stay bounded during
the run and come back to their starting values afterwards.

``requests.Session.close()`` does not close idle pooled sockets under
urllib3 2 (psf/requests#6573); they would close when the pool is collected,
at once on CPython but later on PyPy, so the final count closes the pools as
ssekit closes the sessions it opens (``ssekit.http.close_session``), with
nothing left to the garbage collector.
"""
import concurrent.futures
import gc
import threading
import time
import unittest
from typing import Any, Dict, List, Optional, Tuple

import requests
from requests.adapters import HTTPAdapter

from ssekit import Completion, ServerSentEvent, connect_sse, stream_completion
from ssekit.http import close_session
from ssekit.testing.builders import generation_events
from ssekit.testing.server import RecordedRequest, ScriptedResponse, SSEServer
from tests.sizes import scaled
from tests.support import assert_back_to, open_fds, settle

SEQUENTIAL = scaled(1000)  # (streams one after another on one session)
CONCURRENT = 50
#: Sockets one idle keep-alive connection costs this process: the client's and the server's end.
SOCKETS_PER_CONNECTION = 2


def answer(request: RecordedRequest) -> ScriptedResponse:
    """A tiny stream that names the request it answers."""
    number = (request.json() or {}).get("n", request.query)
    return ScriptedResponse.sse(generation_events("answer %s" % number, id="gen_%s" % number))


class LoadTestCase(unittest.TestCase):
    def setUp(self) -> None:
        gc.collect()
        self.fds_before = open_fds()
        self.threads_before = threading.active_count()
        self.addCleanup(self.check_back_to_start)
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)
        self.server.route("/v1/generate", answer)
        self.url = self.server.url("/v1/generate")
        self.fds_serving = open_fds()  # with the listening socket
        self.session = requests.Session()

    def drop_session(self) -> None:
        """Close the session and the idle sockets in its pools."""
        close_session(self.session)
        del self.session

    def check_back_to_start(self) -> None:
        if hasattr(self, "session"):
            self.drop_session()
        assert_back_to(self, self.fds_before, self.threads_before)

    def assert_fds_at_most(self, connections: int) -> None:
        """No more sockets open than *connections* idle connections account for."""
        if self.fds_serving is not None:
            limit = self.fds_serving + SOCKETS_PER_CONNECTION * connections
            self.assertTrue(settle(lambda: open_fds() <= limit), "%s fds open, at most %d expected" % (open_fds(), limit))

    def stream(self, number: int, session: Optional[requests.Session] = None, **options: Any) -> Completion:
        options.setdefault("timeout", (5, 5))
        with stream_completion(self.url, json={"n": number}, session=session or self.session, **options) as stream:
            text = "".join(stream)
        self.assertEqual(text, stream.completion.text)
        return stream.completion


class SequentialStreams(LoadTestCase):
    def test_many_streams_on_one_session_share_one_connection(self) -> None:
        for number in range(SEQUENTIAL):
            cancel = threading.Event() if number % 100 == 0 else None  # now and then with a cancel watcher
            completion = self.stream(number, cancel=cancel)
            self.assertEqual((completion.text, completion.id, completion.complete), ("answer %d" % number, "gen_%d" % number, True))
            if number % 250 == 0:
                self.assert_fds_at_most(1)
        self.assertEqual(len(self.server.requests), SEQUENTIAL)
        self.assertEqual([request.json()["n"] for request in self.server.requests], list(range(SEQUENTIAL)))
        self.assertEqual(self.server.connection_count, 1, "the pool did not reuse the connection")
        self.assert_fds_at_most(1)

    def test_many_connect_sse_streams_share_one_connection(self) -> None:
        for number in range(SEQUENTIAL):
            with connect_sse(self.session, "GET", self.url + "?%d" % number, timeout=(5, 5)) as source:
                events = list(source.iter_sse())
            self.assertEqual(events[1].json()["delta"], "answer")
            self.assertEqual(events[2].json()["delta"], " %d" % number)
        self.assertEqual(self.server.connection_count, 1)
        self.assert_fds_at_most(1)

    def test_streams_left_early_close_their_connection_and_the_rest_reuse(self) -> None:
        abandoned = 0
        for number in range(200):
            if number % 4 == 1:  # leave after the first text delta: that connection cannot be reused
                with stream_completion(self.url, json={"n": number}, session=self.session, timeout=(5, 5)) as stream:
                    for delta in stream:
                        break
                self.assertEqual((delta, stream.cancelled, stream.completion.text), ("answer", True, "answer"))
                abandoned += 1
            else:
                self.assertEqual(self.stream(number).text, "answer %d" % number)
        # The first connection, then one new connection after each stream left early.
        self.assertEqual(self.server.connection_count, 1 + abandoned)
        self.assert_fds_at_most(1)


class ConcurrentStreams(LoadTestCase):
    def run_wave(self, first: int, session: Optional[requests.Session] = None) -> Dict[int, Completion]:
        with concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
            futures = {number: pool.submit(self.stream, number, session) for number in range(first, first + CONCURRENT)}
            return {number: future.result(timeout=30) for number, future in futures.items()}

    def check_wave(self, results: Dict[int, Completion]) -> None:
        for number, completion in results.items():
            self.assertEqual((completion.text, completion.id, completion.complete), ("answer %d" % number, "gen_%d" % number, True))

    def test_fifty_concurrent_streams_then_fifty_more_reuse_every_connection(self) -> None:
        # The server holds each answer until all 50 requests are in: 50 connections at once, for sure.
        barrier = threading.Barrier(CONCURRENT, timeout=10)

        def together(request: RecordedRequest) -> ScriptedResponse:
            barrier.wait()
            return answer(request)

        self.server.route("/v1/generate", together)
        self.session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=CONCURRENT))
        self.check_wave(self.run_wave(0))
        self.assertEqual(self.server.connection_count, CONCURRENT)
        self.check_wave(self.run_wave(CONCURRENT))
        self.assertEqual(self.server.connection_count, CONCURRENT, "the second wave opened new connections")
        self.assertEqual(self.server.route_errors, [])
        self.assertEqual(sorted(request.json()["n"] for request in self.server.requests), list(range(2 * CONCURRENT)))
        self.assert_fds_at_most(CONCURRENT)

    def test_fifty_concurrent_streams_on_the_default_pool(self) -> None:
        # requests keeps at most 10 idle connections per host: the others must be closed, not leaked.
        for wave in range(3):
            self.check_wave(self.run_wave(wave * CONCURRENT))
        self.assertLessEqual(self.server.connection_count, 3 * CONCURRENT)
        self.assert_fds_at_most(10)

    def test_fifty_stalled_streams_cancelled_from_another_thread(self) -> None:
        start, hello = generation_events("Hello world")[:2]
        self.server.script("/stall", ScriptedResponse.sse([start, hello], stall=True))
        streams = [stream_completion(self.server.url("/stall"), json={"n": n}, session=self.session, timeout=(5, 30)) for n in range(CONCURRENT)]
        first_text = threading.Semaphore(0)
        seen = {}  # type: Dict[int, List[str]]

        def read(number: int) -> Tuple[List[str], bool]:
            with streams[number] as stream:
                deltas = seen[number] = []
                for delta in stream:
                    deltas.append(delta)
                    first_text.release()
            return deltas, stream.cancelled

        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
            futures = [pool.submit(read, number) for number in range(CONCURRENT)]
            for _ in range(CONCURRENT):
                self.assertTrue(first_text.acquire(timeout=10), "a stream never delivered its first text")
            for stream in streams:
                stream.cancel()
            outcomes = [future.result(timeout=10) for future in futures]
        self.assertEqual(outcomes, [(["Hello"], True)] * CONCURRENT)
        self.assertEqual([stream.completion.text for stream in streams], ["Hello"] * CONCURRENT)
        self.assertLess(time.monotonic() - began, 10)
        self.assert_fds_at_most(0)  # interrupted connections are closed, none goes back to the pool


class EventsAreNotMixedAcrossThreads(LoadTestCase):
    def test_concurrent_connect_sse_readers_each_get_their_own_events(self) -> None:
        def read(number: int) -> List[ServerSentEvent]:
            with connect_sse(self.session, "GET", self.url + "?%d" % number, timeout=(5, 5)) as source:
                return list(source.iter_sse())

        with concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
            results = list(pool.map(read, range(200)))
        for number, events in enumerate(results):
            self.assertEqual([event.json().get("delta") for event in events[1:3]], ["answer", " %d" % number])
            self.assertEqual(events[-1].data, "[DONE]")


if __name__ == "__main__":
    unittest.main()
