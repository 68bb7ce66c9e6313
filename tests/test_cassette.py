"""Cassettes: record a real exchange (keys kept off the disk), replay it byte for byte, split and cut it anew."""
import base64
import contextlib
import io
import json
import os
import shutil
import socket
import tempfile
import unittest
from typing import Any, Iterator, List, Tuple

import requests
from urllib3.util import Retry

from ssekit import Completion, IncompleteStreamError, InvalidRequestError, accumulate, cli, connect_sse, iter_sse, stream_completion
from ssekit.testing import (
    PATHS,
    Cassette,
    CassetteChunk,
    CassetteError,
    CassetteRequest,
    CassetteServer,
    LocalGateway,
    ScriptedResponse,
    SSEServer,
    cuts,
    rechunkings,
    replay,
    sample_request,
    sse_event,
)
from ssekit.testing.cassette import scripted_response

from .record_cassettes import ANSWER, API_KEY, FOLDER, PROMPT

KEY = "sk-live-RECORDED-NEVER-0123"
FORMATS = sorted(PATHS)
#: The request fields that carry the prompt in each format (what a test names in ``match``).
PROMPT_FIELDS = {
    "chat_completions": ["model", "messages"],
    "responses": ["model", "input"],
    "messages": ["model", "messages", "max_tokens"],
    "generation": ["model", "prompt"],
    "cohere": ["model", "messages"],
    "gemini": ["contents", "generationConfig.maxOutputTokens"],
}


def committed(name: str) -> Cassette:
    return Cassette.load(os.path.join(FOLDER, name + ".jsonl"))


def accumulated(cassette: Cassette, format: str = "auto") -> Completion:
    return accumulate(iter_sse(cassette.pieces), format)


@contextlib.contextmanager
def folder() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="ssekit-cassette-")
    try:
        yield path
    finally:
        shutil.rmtree(path)


def read_file(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send *request* on a plain socket and read everything until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(received)
            received.append(data)


def dechunk(body: bytes) -> List[bytes]:
    """The payloads of an HTTP/1.1 chunked body, in order (the final empty chunk excluded)."""
    chunks = []
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if not size:
            return chunks
        chunks.append(body[:size])
        assert body[size : size + 2] == b"\r\n"
        body = body[size + 2 :]


class Format(unittest.TestCase):
    def cassette(self) -> Cassette:
        request = CassetteRequest("POST", "http://h/v1/x?alt=sse", [("Content-Type", "application/json")], b'{"a": 1}')
        chunks = [CassetteChunk(0.0, b"data: caf\xc3"), CassetteChunk(0.25, b"\xa9\r"), CassetteChunk(0.5, b"\n\r\n")]
        return Cassette(request, 200, [("Content-Type", "text/event-stream")], chunks, reason="OK", elapsed=0.125)

    def test_round_trip_keeps_every_byte_and_time(self) -> None:
        cassette = self.cassette()
        text = cassette.dumps()
        lines = [json.loads(line) for line in text.splitlines()]
        self.assertEqual(lines[0]["ssekit_cassette"], "1.0")
        self.assertEqual(lines[1], {"t": 0.0, "base64": base64.b64encode(b"data: caf\xc3").decode()})  # not UTF-8
        self.assertEqual(lines[3], {"t": 0.5, "text": "\n\r\n"})
        self.assertEqual(lines[-1], {"end": "eof"})
        loaded = Cassette.loads(text)
        self.assertEqual(loaded, cassette)
        self.assertEqual(loaded.pieces, [b"data: caf\xc3", b"\xa9\r", b"\n\r\n"])
        self.assertEqual(loaded.request.json(), {"a": 1})
        self.assertEqual((loaded.request.path, loaded.request.query, loaded.elapsed), ("/v1/x", "alt=sse", 0.125))
        self.assertEqual([event.data for event in iter_sse(loaded.pieces)], ["café"])

    def test_newer_minor_versions_load_and_unknown_fields_are_ignored(self) -> None:
        lines = self.cassette().dumps().splitlines()
        head = json.loads(lines[0])
        head.update(ssekit_cassette="1.7", recorded_by="a later ssekit")
        head["response"]["http_version"] = "2"
        future = [json.dumps(head), '{"t": 0, "text": "data: x\\n\\n", "socket_read": 3}', '{"note": "a new kind of line"}', ""]
        loaded = Cassette.loads("\n".join(future + ['{"end": "open", "why": "stalled"}']))
        self.assertEqual((loaded.pieces, loaded.end), ([b"data: x\n\n"], "open"))

    def test_what_is_not_a_cassette_fails_clearly(self) -> None:
        good = self.cassette().dumps()
        cases = [
            ("", "is empty"),
            ("not json\n", "line 1: not JSON"),
            ('{"hello": 1}\n', 'no "ssekit_cassette" version'),
            (good.replace('"1.0"', '"2.0"', 1), "version 2.0 cassette; this ssekit reads version 1.x"),
            (good + '{"t": "soon", "text": "x"}\n', "line 6: malformed"),
            (good + '{"t": 0, "base64": "@@@"}\n', "line 6: malformed"),
        ]
        for text, message in cases:
            with self.subTest(message), self.assertRaises(CassetteError) as caught:
                Cassette.loads(text, where="x.jsonl")
            self.assertIn(message, str(caught.exception))
            self.assertIsInstance(caught.exception, ValueError)

    def test_a_recording_that_was_killed_ends_cut(self) -> None:
        text = "".join(line + "\n" for line in self.cassette().dumps().splitlines()[:-1])
        self.assertEqual(Cassette.loads(text).end, "cut")

    def test_replay_script_scales_the_gaps(self) -> None:
        cassette = self.cassette()
        self.assertEqual(scripted_response(cassette).chunks, cassette.pieces)
        slow = scripted_response(cassette, time_scale=2.0)
        self.assertEqual(slow.chunks, [b"data: caf\xc3", 0.5, b"\xa9\r", 0.5, b"\n\r\n"])
        self.assertEqual(slow.head_delay, 0.25)
        self.assertEqual(scripted_response(cassette.cut(9)).cut_after, 9)


class CommittedCassettes(unittest.TestCase):
    """The gateway's six formats, recorded once (tests/record_cassettes.py), under every chunking and cut."""

    def test_same_completion_under_every_chunking(self) -> None:
        for name in FORMATS:
            cassette = committed(name)
            expected = accumulated(cassette, name)
            self.assertEqual((expected.text, expected.complete), (ANSWER, True))
            self.assertGreater(len(cassette.chunks), 5, "each event was recorded in its own read")
            for label, variant in rechunkings(cassette, seed=len(name)):
                with self.subTest(name, chunking=label):
                    self.assertEqual(variant.body, cassette.body)
                    self.assertEqual(accumulated(variant, "auto"), expected)

    def test_every_two_way_split(self) -> None:
        cassette = committed("generation")
        expected = accumulated(cassette)
        splits = list(rechunkings(cassette, count=0, two_way=True))
        self.assertEqual(len(splits), 3 + len(cassette.body) - 1)
        for label, variant in splits:
            self.assertEqual(accumulated(variant), expected, label)

    def test_a_cut_fails_cleanly_with_what_arrived(self) -> None:
        for name in FORMATS:
            cassette = committed(name)
            expected = accumulated(cassette, name)
            size = len(cassette.body)
            for offset, cut in cuts(cassette, range(0, size, 1 if name == "generation" else 29)):
                with self.subTest(name, offset=offset):
                    self.assertEqual(cut.end, "cut")
                    try:
                        result = accumulated(cut, name)
                    except IncompleteStreamError as exc:
                        self.assertIsNotNone(exc.partial)
                        self.assertTrue(ANSWER.startswith(exc.partial.text), exc.partial.text)
                    else:  # cut after the answer was complete (only the end marker's tail missing)
                        self.assertGreater(offset, size * 0.8)
                        self.assertEqual(result.text, expected.text)

    def test_no_key_in_any_committed_cassette(self) -> None:
        for name in FORMATS:
            text = read_file(os.path.join(FOLDER, name + ".jsonl"))
            self.assertNotIn(API_KEY, text)
            self.assertIn("[redacted]", text)

    def test_replayed_over_http_to_stream_completion(self) -> None:
        for name in FORMATS:
            cassette = committed(name)
            expected = accumulated(cassette, name)
            for framing, gzipped in (("chunked", False), ("close", False), ("length", True)):
                with self.subTest(name, framing=framing, gzip=gzipped):
                    with replay(cassette, match=PROMPT_FIELDS[name], framing=framing, gzip=gzipped) as server:
                        body = sample_request(name, prompt=PROMPT)
                        with stream_completion(server.url, json=body, api_key="any", retry=0) as stream:
                            self.assertEqual("".join(stream), ANSWER)
                        self.assertEqual(stream.completion, expected)

    def test_cut_over_http_raises_with_partial(self) -> None:
        cassette = committed("chat_completions")
        for offset, cut in cuts(cassette, [0, 700, len(cassette.body) // 2]):
            with self.subTest(offset=offset), CassetteServer(cut) as server:
                with self.assertRaises(IncompleteStreamError) as caught:
                    with stream_completion(server.url, json={}, retry=0) as stream:
                        list(stream)
                self.assertTrue(ANSWER.startswith(caught.exception.partial.text))


class ByteExact(unittest.TestCase):
    def test_a_raw_socket_receives_the_recorded_chunks(self) -> None:
        cassette = committed("messages")
        request = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        with CassetteServer(cassette) as server:
            wire = raw_exchange(server.server.port, request)
        head, _, body = wire.partition(b"\r\n\r\n")
        self.assertIn(b"\r\nTransfer-Encoding: chunked", head)
        self.assertIn(b"\r\nContent-Type: text/event-stream", head)
        self.assertEqual(dechunk(body), cassette.pieces)  # each recorded chunk is one HTTP chunk, byte for byte

    def test_close_delimited_body_is_the_recorded_body(self) -> None:
        cassette = committed("gemini")
        with CassetteServer(cassette, framing="close") as server:
            wire = raw_exchange(server.server.port, b"POST " + cassette.request.path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(wire.partition(b"\r\n\r\n")[2], cassette.body)

    def test_requests_sees_the_recorded_body_through_gzip(self) -> None:
        cassette = committed("responses")
        with CassetteServer(cassette, gzip=True) as server, requests.post(server.url, json={}, stream=True) as response:
            self.assertEqual(response.headers["Content-Encoding"], "gzip")
            self.assertEqual(b"".join(response.iter_content(None)), cassette.body)


class RequestCheck(unittest.TestCase):
    def setUp(self) -> None:
        self.cassette = committed("chat_completions")
        self.body = sample_request("chat_completions", prompt=PROMPT)

    def test_matching_request_passes(self) -> None:
        with replay(self.cassette, match=["model", "messages", "messages.0.content", "stream"]) as server:
            with stream_completion(server.url, json=self.body) as stream:
                list(stream)

    def test_a_different_field_fails_with_a_diff(self) -> None:
        self.body["messages"][0]["content"] = "What is the capital of Spain?"
        with self.assertRaises(AssertionError) as caught:
            with replay(self.cassette, match=["model", "messages"]) as server:
                with stream_completion(server.url, json=self.body) as stream:
                    list(stream)
        message = str(caught.exception)
        self.assertIn("body field 'messages' differs", message)
        self.assertIn('-    "content": "What is the capital of France?"', message)
        self.assertIn('+    "content": "What is the capital of Spain?"', message)
        self.assertNotIn("'model'", message)

    def test_a_wrong_path_is_named_even_when_the_code_failed(self) -> None:
        with self.assertRaises(AssertionError) as caught:
            with replay(self.cassette) as server:
                with stream_completion(server.base_url + "/chat/completions", json=self.body, retry=0) as stream:
                    list(stream)
        self.assertIn("path: recorded '/v1/chat/completions', sent '/chat/completions'", str(caught.exception))
        self.assertIn("NotFoundError", repr(caught.exception.__context__))

    def test_no_request_fails(self) -> None:
        with self.assertRaises(AssertionError) as caught:
            with replay(self.cassette):
                pass
        self.assertIn("sent no request", str(caught.exception))

    def test_the_code_s_own_error_goes_on_when_the_request_matched(self) -> None:
        with self.assertRaises(KeyError):
            with replay(self.cassette) as server:
                requests.post(server.url, json=self.body).close()
                raise KeyError("the code under test failed")


class Recording(unittest.TestCase):
    CHUNKS = [sse_event({"type": "generation_start", "id": "gen-1"}), b'data: {"type":"content_delta","delta":"caf\xc3',
              b'\xa9"}\r', b"\n\r\n", sse_event({"type": "generation_end", "tokens_used": 3}), b"data: [DONE]\n\n"]

    def setUp(self) -> None:
        self.server = SSEServer().start()
        self.addCleanup(self.server.close)
        self.server.script("/v1/generate", ScriptedResponse.sse(self.CHUNKS, interval=0.01))
        self.tmp = tempfile.mkdtemp(prefix="ssekit-cassette-")
        self.addCleanup(shutil.rmtree, self.tmp)
        self.path = os.path.join(self.tmp, "generation.jsonl")

    def stream(self, **options: Any) -> Tuple[List[str], Completion]:
        with stream_completion(self.server.url("/v1/generate"), json={"prompt": "hi"}, **options) as stream:
            deltas = list(stream)
        return deltas, stream.completion

    def test_recording_changes_nothing_the_caller_sees(self) -> None:
        plain = self.stream()
        self.assertEqual(self.stream(record=self.path), plain)
        cassette = Cassette.load(self.path)
        self.assertEqual(cassette.body, b"".join(self.CHUNKS))
        self.assertEqual((cassette.status, cassette.end, cassette.header("content-type")), (200, "eof", "text/event-stream"))
        self.assertEqual(cassette.request.json(), {"prompt": "hi"})
        self.assertEqual(cassette.request.method, "POST")
        times = [chunk.t for chunk in cassette.chunks]
        self.assertEqual(times, sorted(times))
        with CassetteServer(cassette) as replayed:
            with stream_completion(replayed.url, json={"prompt": "hi"}) as stream:
                self.assertEqual((list(stream), stream.completion), plain)

    def test_no_key_reaches_the_file(self) -> None:
        secrets = {
            "api_key": KEY,
            "session": "session-" + KEY,
            "password": "basic-pass-" + KEY,
            "query": "query-" + KEY,
            "userinfo": "urlpass-" + KEY,
        }
        session = requests.Session()
        session.headers["X-Api-Key"] = secrets["session"]
        url = self.server.url("/v1/generate").replace("http://", "http://me:%s@" % secrets["userinfo"])
        with session, stream_completion(url + "?key=%s&model=m" % secrets["query"], json={"prompt": "hi"}, session=session,
                                        api_key=secrets["api_key"], auth=("me", secrets["password"]), record=self.path) as stream:
            list(stream)
        text = read_file(self.path)
        basic = base64.b64encode(("me:" + secrets["password"]).encode()).decode()
        for name, secret in list(secrets.items()) + [("basic", basic), ("bare key", KEY)]:
            self.assertNotIn(secret, text, name)
        request = Cassette.load(self.path).request
        self.assertIn("?key=[redacted]&model=m", request.url)
        self.assertIn("me:[redacted]@", request.url)
        self.assertEqual(dict(request.headers)["X-Api-Key"], "[redacted]")
        self.assertEqual(dict(request.headers)["Authorization"], "[redacted]")

    def test_a_key_echoed_in_the_body_is_redacted_across_chunks(self) -> None:
        echo = b'data: {"type":"content_delta","delta":"your key is ' + KEY.encode()
        self.server.script("/v1/generate", ScriptedResponse.sse(
            [self.CHUNKS[0], echo[:-6], echo[-6:] + b'"}\n\n', self.CHUNKS[4], self.CHUNKS[5]], interval=0.01))
        deltas, _ = self.stream(api_key=KEY, record=self.path)
        self.assertIn("your key is " + KEY, "".join(deltas))  # the caller sees what came
        text = read_file(self.path)
        self.assertNotIn(KEY, text)
        self.assertNotIn(KEY[-6:], text)
        self.assertIn("your key is [redacted]", Cassette.load(self.path).body.decode())

    def test_gzip_is_recorded_decoded_and_replays_the_same(self) -> None:
        self.server.script("/v1/generate", ScriptedResponse.sse(self.CHUNKS, gzip=True, interval=0.01))
        plain = self.stream(record=self.path)
        cassette = Cassette.load(self.path)
        self.assertEqual(cassette.body, b"".join(self.CHUNKS))
        self.assertEqual(cassette.header("Content-Encoding"), "gzip")  # as received; the replay sends identity
        with CassetteServer(cassette) as replayed, stream_completion(replayed.url, json={"prompt": "hi"}) as stream:
            self.assertEqual((list(stream), stream.completion), plain)

    def test_a_cut_and_a_stall_are_recorded_as_such(self) -> None:
        self.server.script("/v1/generate", ScriptedResponse.sse(self.CHUNKS[:3], cut_after=60))
        with self.assertRaises(IncompleteStreamError):
            self.stream(record=self.path, retry=0)
        self.assertEqual(Cassette.load(self.path).end, "cut")
        self.server.script("/v1/generate", ScriptedResponse.sse(self.CHUNKS, stall=True))
        self.stream(record=self.path)  # complete at [DONE]: the open connection is let go
        cassette = Cassette.load(self.path)
        self.assertEqual((cassette.end, cassette.body), ("open", b"".join(self.CHUNKS)))

    def test_retried_request_records_the_answer_that_streamed(self) -> None:
        self.server.script("/v1/generate", ScriptedResponse.json({"error": {"message": "busy"}}, status=503),
                           ScriptedResponse.sse(self.CHUNKS))
        self.stream(record=self.path, retry=Retry(total=1, backoff_factor=0))
        self.assertEqual(Cassette.load(self.path).status, 200)

    def test_a_whole_json_answer_is_recorded(self) -> None:
        result = {"type": "generation", "id": "gen-2", "text": "Paris.", "tokens_used": 2}
        self.server.script("/v1/generate", ScriptedResponse.json(result))
        deltas, completion = self.stream(record=self.path)
        cassette = Cassette.load(self.path)
        self.assertEqual((json.loads(cassette.body), cassette.end), (result, "eof"))
        with CassetteServer(cassette) as replayed, stream_completion(replayed.url, json={}) as stream:
            self.assertEqual((list(stream), stream.completion), (deltas, completion))

    def test_connect_sse_records_too(self) -> None:
        with requests.Session() as session:
            with connect_sse(session, "POST", self.server.url("/v1/generate"), json={}, record=self.path) as source:
                events = list(source.iter_sse())
        self.assertEqual(len(events), 4)
        self.assertEqual(Cassette.load(self.path).body, b"".join(self.CHUNKS))

    def test_a_record_path_in_no_folder_is_refused_before_sending(self) -> None:
        with self.assertRaises(InvalidRequestError) as caught:
            stream_completion(self.server.url("/v1/generate"), json={}, record=os.path.join(self.tmp, "no", "x.jsonl"))
        self.assertIn("does not exist", str(caught.exception))
        with self.assertRaises(InvalidRequestError):
            stream_completion(self.server.url("/v1/generate"), json={}, record=3)  # type: ignore[arg-type]
        self.assertEqual(self.server.requests, [])


class CommandLine(unittest.TestCase):
    def run_cli(self, *argv: str) -> Tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(argv))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue(), err.getvalue()

    def test_record_streams_and_writes_a_cassette_without_the_key(self) -> None:
        with folder() as tmp, LocalGateway(answer=ANSWER, api_key=KEY) as gateway:
            path = os.path.join(tmp, "messages.jsonl")
            body = json.dumps(sample_request("messages", prompt=PROMPT))
            code, out, err = self.run_cli("record", gateway.url("messages"), "-d", body, "-o", path, "--api-key", KEY)
            self.assertEqual(code, 0, err)
            self.assertEqual(out.strip(), ANSWER)
            self.assertIn("recorded", err)
            self.assertNotIn(KEY, out + err + read_file(path))
            self.assertEqual(accumulated(Cassette.load(path)).text, ANSWER)
            code, out, err = self.run_cli("record", gateway.url("messages"), "-d", body, "-o", os.path.join(tmp, "no", "x"))
            self.assertEqual(code, 2)
            self.assertIn("ssekit record: -o", err)
            self.assertIn("does not exist", err)


if __name__ == "__main__":
    unittest.main()
