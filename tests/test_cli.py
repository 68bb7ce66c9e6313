"""The ssekit command line: demo, stream, parse, accumulate, serve; clear one-line errors; no key ever shown."""
import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Any, List, Optional, Tuple, Union

import requests

from ssekit import accumulate, cli, iter_sse, iter_updates
from ssekit.testing import DEFAULT_ANSWER, DEFAULT_PROMPT, PATHS, LocalGateway, build_events, sample_request, split_tokens
from ssekit.testing.server import ScriptedResponse, SSEServer
from ssekit.updates import update_to_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "sk-test-0123456789-secret"
ANSWER_TOKENS = len(split_tokens(DEFAULT_ANSWER))


def run(*argv: str) -> Tuple[int, str, str]:
    """Run the CLI in this process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def _interruptible() -> None:
    """In the child: Ctrl-C as a terminal sends it (a test run in the background inherits SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*argv: Union[str, bytes], **kwargs: Any) -> "subprocess.Popen[bytes]":
    """``python -m ssekit ARGV`` as a child process (for stdin, signals, the real entry point, raw bytes arguments)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(kwargs.pop("env", {}))
    if os.name == "posix":
        kwargs.setdefault("preexec_fn", _interruptible)
    return subprocess.Popen(
        [sys.executable, "-m", "ssekit"] + list(argv),
        stdin=kwargs.pop("stdin", subprocess.DEVNULL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        **kwargs
    )


def communicate(process: "subprocess.Popen[bytes]", data: Optional[bytes] = None) -> Tuple[int, str, str]:
    out, err = process.communicate(data, timeout=20)
    return process.returncode, out.decode("utf-8"), err.decode("utf-8")


class CliTestCase(unittest.TestCase):
    def assert_one_line_error(self, err: str, *words: str) -> None:
        self.assertNotIn("Traceback", err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, "expected one error line, got:\n" + err)
        for word in words:
            self.assertIn(word, lines[0])

    def temp_file(self, data: bytes) -> str:
        handle, path = tempfile.mkstemp(suffix=".sse")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        self.addCleanup(os.remove, path)
        return path


class Help(CliTestCase):
    def test_help_everywhere(self) -> None:
        for command in ([], ["demo"], ["stream"], ["parse"], ["accumulate"], ["serve"]):
            with self.subTest(command=command):
                code, out, _ = run(*(command + ["--help"]))
                self.assertEqual(code, 0)
                self.assertIn("usage: ssekit", out)
        self.assertIn("SSEKIT_API_KEY", run("stream", "--help")[1])

    def test_no_command_is_a_usage_error(self) -> None:
        code, _, err = run()
        self.assertEqual(code, 2)
        self.assertIn("usage: ssekit", err)

    def test_python_dash_m_entry_point(self) -> None:
        code, out, err = communicate(spawn("--version"))
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"^ssekit \d+\.\d+")


class Demo(CliTestCase):
    def test_demo_streams_every_format_with_a_summary(self) -> None:
        for format in sorted(PATHS):
            with self.subTest(format=format):
                code, out, err = run("demo", "--format", format, "--pace", "0")
                self.assertEqual(code, 0, err)
                self.assertEqual(out, DEFAULT_ANSWER + "\n")
                self.assertIn(DEFAULT_PROMPT, err)
                summary = err.strip().splitlines()[-1]
                self.assertIn("finish: stop", summary)
                self.assertIn("first token", summary)
                self.assertIn("tokens/s", summary)
                if format == "generation":
                    self.assertIn("usage: %d tokens" % (len(split_tokens(DEFAULT_PROMPT)) + ANSWER_TOKENS), summary)
                else:
                    self.assertIn("usage: %d in + %d out" % (len(split_tokens(DEFAULT_PROMPT)), ANSWER_TOKENS), summary)

    def test_demo_pace_is_visible(self) -> None:
        start = time.monotonic()
        code, out, _ = run("demo", "--pace", "0.004")
        self.assertEqual(code, 0)
        self.assertGreaterEqual(time.monotonic() - start, ANSWER_TOKENS * 0.004 * 0.8)

    def test_ctrl_c_stops_cleanly_showing_what_arrived(self) -> None:
        if not hasattr(signal, "SIGINT") or os.name == "nt":
            self.skipTest("needs POSIX signals")
        process = spawn("demo", "--pace", "0.05")
        first = process.stdout.read(12)  # type: ignore[union-attr]
        process.send_signal(signal.SIGINT)
        code, out, err = communicate(process)
        self.assertEqual(code, 130)
        shown = (first.decode("utf-8") + out).rstrip("\n")
        self.assertTrue(DEFAULT_ANSWER.startswith(shown) and len(shown) < len(DEFAULT_ANSWER), shown)
        self.assertNotIn("Traceback", err)
        self.assertIn("-- interrupted", err)


class RecordInterrupted(CliTestCase):
    def test_ctrl_c_before_any_answer_says_nothing_was_recorded_and_leaves_an_old_file_alone(self) -> None:
        if os.name == "nt":
            self.skipTest("needs POSIX signals")
        asked = threading.Event()

        def stall(request: Any) -> ScriptedResponse:
            asked.set()
            time.sleep(3)  # (the head never comes in time)
            return ScriptedResponse.sse([b"data: [DONE]\n\n"])

        with SSEServer() as server, tempfile.TemporaryDirectory() as folder:
            server.route("/v1/chat/completions", stall)
            path = os.path.join(folder, "old.jsonl")
            with open(path, "w") as old:
                old.write("an older file\n")
            process = spawn("record", server.url("/v1/chat/completions"), "-d", "{}", "-o", path)
            self.assertTrue(asked.wait(20))
            process.send_signal(signal.SIGINT)
            code, _, err = communicate(process)
            with open(path) as old:
                self.assertEqual(old.read(), "an older file\n")
        self.assertEqual(code, 130, err)
        self.assertNotIn("Traceback", err)
        self.assertIn("nothing was recorded to %s: no answer arrived" % path, err)


class Stream(CliTestCase):
    def setUp(self) -> None:
        self.gateway = LocalGateway(api_key=KEY).start()
        self.addCleanup(self.gateway.close)

    def body(self, format: str = "chat_completions", **fields: Any) -> str:
        body = sample_request(format)
        del body["stream"]
        body.update(fields)
        return json.dumps(body)

    def test_text_live_on_stdout_stats_on_stderr_key_never_shown(self) -> None:
        code, out, err = run("stream", self.gateway.url("chat_completions"), "-d", self.body(), "--api-key", KEY,
                             "-H", "X-Trace: abc")  # fmt: skip
        self.assertEqual(code, 0, err)
        self.assertEqual(out, DEFAULT_ANSWER + "\n")
        self.assertIn("finish: stop", err)
        self.assertIn("id chatcmpl-local", err)
        request = self.gateway.requests[-1]
        self.assertEqual(request.headers["Authorization"], "Bearer " + KEY)
        self.assertEqual(request.headers["X-Trace"], "abc")
        self.assertIs(request.json()["stream"], True, "stream: true is added when absent")
        self.assertNotIn(KEY, out + err)

    def test_key_from_the_environment_and_body_from_stdin(self) -> None:
        process = spawn("stream", self.gateway.url("messages"), "-d", "@-", "--format", "messages",
                        stdin=subprocess.PIPE, env={"SSEKIT_API_KEY": KEY})  # fmt: skip
        code, out, err = communicate(process, self.body("messages").encode("utf-8"))
        self.assertEqual(code, 0, err)
        self.assertEqual(out, DEFAULT_ANSWER + "\n")
        self.assertNotIn(KEY, out + err)
        request = self.gateway.requests[-1]
        self.assertEqual((request.headers.get("x-api-key"), request.headers.get("Authorization")), (KEY, None))
        self.assertEqual(request.headers["anthropic-version"], "2023-06-01")

    def test_body_from_a_file(self) -> None:
        path = self.temp_file(self.body("generation").encode("utf-8"))
        code, out, err = run("stream", self.gateway.url("generation"), "-d", "@" + path, "--api-key", KEY)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, DEFAULT_ANSWER + "\n")

    def test_events_prints_one_json_line_per_event(self) -> None:
        body = self.body("responses", max_output_tokens=3)
        code, out, err = run("stream", self.gateway.url("responses"), "-d", body, "--events", "--api-key", KEY)
        self.assertEqual(code, 0, err)
        events = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(events[0]["event"], "response.created")
        self.assertEqual(events[-1]["event"], "response.incomplete")
        deltas = [json.loads(event["data"])["delta"] for event in events if event["event"] == "response.output_text.delta"]
        self.assertEqual("".join(deltas), "".join(split_tokens(DEFAULT_ANSWER)[:3]))
        self.assertEqual(set(events[0]), {"event", "data", "id", "retry"})
        self.assertIn("finish: length", err)

    def test_http_error_is_one_line(self) -> None:
        code, out, err = run("stream", self.gateway.url("chat_completions"), "-d", '{"messages": []}', "--api-key", KEY)
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assert_one_line_error(err, "HTTP 400", "'model' is required")

    def test_wrong_key_is_refused_without_echoing_it(self) -> None:
        wrong = "sk-wrong-key-do-not-print"
        code, _, err = run("stream", self.gateway.url("chat_completions"), "-d", self.body(), "--api-key", wrong)
        self.assertEqual(code, 1)
        self.assert_one_line_error(err, "HTTP 401")
        self.assertNotIn(wrong, err)

    def test_bad_json_and_bad_arguments_are_usage_errors(self) -> None:
        url = self.gateway.url("chat_completions")
        cases = [
            (["-d", "{nope"], "not valid JSON"),
            (["-d", "@/no/such/file.json"], "cannot read"),
            (["-d", "{}", "-H", "no colon here"], "Name: value"),
        ]
        for extra, words in cases:
            with self.subTest(extra=extra):
                code, _, err = run("stream", url, *extra)
                self.assertEqual(code, 2)
                self.assert_one_line_error(err, words)
        code, _, err = run("stream", "ftp://example.com/x", "-d", "{}")
        self.assertEqual(code, 2)
        self.assert_one_line_error(err, "http://")
        self.assertEqual(self.gateway.requests, [], "nothing may be sent for a bad command line")

    def test_unreachable_host_is_one_line(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again before the CLI tries it
        code, _, err = run("stream", "http://127.0.0.1:%d/v1/chat/completions" % port, "-d", "{}", "--retry", "0")
        self.assertEqual(code, 1)
        self.assert_one_line_error(err, "could not connect")

    def test_retries_are_shown_only_with_verbose(self) -> None:
        for verbose in ([], ["-v"]):
            with self.subTest(verbose=verbose):
                self.gateway.fail_next(503, retry_after=0)
                code, out, err = run("stream", self.gateway.url("chat_completions"), "-d", self.body(), "--api-key", KEY, *verbose)
                self.assertEqual(code, 0, err)
                self.assertEqual(out, DEFAULT_ANSWER + "\n")
                self.assertEqual("ssekit: attempt 1 failed, retrying" in err, bool(verbose), err)
                self.assertTrue(err.splitlines()[-1].startswith("-- finish: stop"))

    def test_a_failure_after_retries_is_one_line_that_points_at_verbose(self) -> None:
        self.gateway.fail_next(503, times=3, retry_after=0)
        code, _, err = run("stream", self.gateway.url("chat_completions"), "-d", self.body(), "--api-key", KEY)
        self.assertEqual(code, 1)
        self.assert_one_line_error(err, "HTTP 503", "-v shows 2 hidden warning(s)")
        self.gateway.fail_next(503, times=3, retry_after=0)
        code, _, err = run("stream", self.gateway.url("chat_completions"), "-d", self.body(), "--api-key", KEY, "--verbose")
        self.assertEqual(code, 1)
        lines = err.strip().splitlines()
        self.assertEqual([line.split(" failed")[0] for line in lines[:2]], ["ssekit: attempt 1", "ssekit: attempt 2"])
        self.assertTrue(lines[-1].startswith("ssekit stream: ") and "HTTP 503" in lines[-1], lines)
        self.assertNotIn("hidden", err)

    def test_incomplete_stream_keeps_the_text_and_fails(self) -> None:
        self.gateway.cut_next(after_tokens=5)
        code, out, err = run("stream", self.gateway.url("messages"), "-d", self.body("messages"), "--api-key", KEY)
        self.assertEqual(code, 1)
        self.assertEqual(out, "".join(split_tokens(DEFAULT_ANSWER)[:5]) + "\n")
        self.assert_one_line_error(err, "ssekit stream: ")

    def test_stalled_stream_times_out(self) -> None:
        self.gateway.stall_next(after_tokens=2)
        # No retry: on a loaded machine a first event later than the timeout would retry the stall away.
        code, out, err = run("stream", self.gateway.url("chat_completions"), "-d", self.body(), "--api-key", KEY,
                             "--timeout", "1", "--retry", "0")  # fmt: skip
        self.assertEqual(code, 1)
        self.assertEqual(out, "".join(split_tokens(DEFAULT_ANSWER)[:2]) + "\n")
        self.assert_one_line_error(err, "ssekit stream: ")


class ParseAndAccumulate(CliTestCase):
    CALL = {"name": "get_weather", "arguments": '{"city": "Paris"}'}

    def recorded(self, format: str = "chat_completions", keep: Optional[int] = None) -> Tuple[str, List[bytes]]:
        events = build_events(format, "Hello there.", tool_calls=[self.CALL] if format != "generation" else None,
                              usage={"input_tokens": 3, "output_tokens": 4})  # fmt: skip
        events = events[:keep]
        return self.temp_file(b"".join(events)), events

    def test_parse_prints_one_json_line_per_event(self) -> None:
        path, events = self.recorded("messages")
        code, out, err = run("parse", path)
        self.assertEqual(code, 0, err)
        lines = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(len(lines), len(events))
        self.assertEqual(lines[0]["event"], "message_start")
        self.assertEqual(json.loads(lines[0]["data"])["type"], "message_start")

    def test_parse_reads_stdin(self) -> None:
        data = b"id: 7\nevent: tick\ndata: a\ndata: b\n\nretry: 1500\ndata: c\n\n"
        code, out, err = communicate(spawn("parse", "-", stdin=subprocess.PIPE), data)
        self.assertEqual(code, 0, err)
        self.assertEqual(
            [json.loads(line) for line in out.splitlines()],
            [{"event": "tick", "data": "a\nb", "id": "7", "retry": None}, {"event": "message", "data": "c", "id": "7", "retry": 1500}],
        )

    def test_accumulate_prints_the_completion(self) -> None:
        for format in sorted(PATHS):
            with self.subTest(format=format):
                path, _ = self.recorded(format)
                code, out, err = run("accumulate", path, "--format", format)
                self.assertEqual(code, 0, err)
                completion = json.loads(out)
                self.assertEqual(completion["text"], "Hello there.")
                self.assertTrue(completion["complete"])
                if format != "generation":
                    self.assertEqual(completion["tool_calls"][0]["name"], "get_weather")
                    self.assertEqual(completion["finish_reason"], "tool_calls")
                    self.assertEqual(completion["usage"]["output_tokens"], 4)

    def test_accumulate_messages_prints_the_assistant_turn(self) -> None:
        for format in sorted(PATHS):
            with self.subTest(format=format):
                path, _ = self.recorded(format)
                code, out, err = run("accumulate", path, "--format", format, "--messages")
                self.assertEqual(code, 0, err)
                with open(path, "rb") as recording:
                    expected = accumulate(iter_sse([recording.read()]), format).to_messages()
                self.assertEqual(json.loads(out), expected)
                self.assertIsInstance(expected, list)

    def test_accumulate_updates_prints_one_json_line_per_typed_record(self) -> None:
        for format in sorted(PATHS):
            with self.subTest(format=format):
                path, _ = self.recorded(format)
                code, out, err = run("accumulate", path, "--format", format, "--updates")
                self.assertEqual(code, 0, err)
                with open(path, "rb") as recording:
                    expected = [update_to_dict(update) for update in iter_updates(iter_sse([recording.read()]), format)]
                self.assertEqual([json.loads(line) for line in out.splitlines()], json.loads(json.dumps(expected)))
                self.assertEqual("".join(line["text"] for line in expected if line["kind"] == "text"), "Hello there.")
        path, _ = self.recorded("chat_completions", keep=3)
        code, out, err = run("accumulate", path, "--updates")
        self.assertEqual(code, 1)
        self.assertEqual("".join(json.loads(line).get("text", "") for line in out.splitlines()), "Hello there")
        self.assert_one_line_error(err, "ended before")

    def test_accumulate_of_a_cut_stream_prints_the_partial_and_fails(self) -> None:
        path, _ = self.recorded("chat_completions", keep=3)
        code, out, err = run("accumulate", path)
        self.assertEqual(code, 1)
        self.assertEqual(json.loads(out)["text"], "Hello there")
        self.assertFalse(json.loads(out)["complete"])
        self.assert_one_line_error(err, "ended before")

    def test_accumulate_of_an_error_event_prints_the_partial_and_fails(self) -> None:
        path = self.temp_file(b"".join(build_events("generation", "Half an", error="quota exhausted")))
        code, out, err = run("accumulate", path)
        self.assertEqual(code, 1)
        self.assertEqual(json.loads(out)["text"], "Half an")
        self.assert_one_line_error(err, "quota exhausted")

    def test_missing_file_is_one_line(self) -> None:
        code, out, err = run("accumulate", "/no/such/recording.sse")
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assert_one_line_error(err, "No such file")


class Serve(CliTestCase):
    def test_serve_answers_until_ctrl_c(self) -> None:
        if os.name == "nt":
            self.skipTest("needs POSIX signals")
        process = spawn("serve", "--port", "0", "--pace", "0", "--format", "messages")
        try:
            lines = []
            while not lines or not lines[-1].startswith("try:"):
                line = process.stdout.readline().decode("utf-8")  # type: ignore[union-attr]
                self.assertTrue(line, "serve ended early")
                lines.append(line)
            base = lines[0].split()[3]
            self.assertRegex(base, r"^http://127\.0\.0\.1:\d+/v1$")
            self.assertIn(base + "/messages", lines[-1])
            answer = requests.post(base + "/generate", json=sample_request("generation", stream=False), timeout=5)
            self.assertEqual(answer.json()["text"], DEFAULT_ANSWER)
        finally:
            process.send_signal(signal.SIGINT)
            code, _, err = communicate(process)
        self.assertEqual(code, 0)
        self.assertIn("POST /v1/generate -> 200 result", err)
        self.assertNotIn("Traceback", err)

    def test_port_in_use_is_one_line(self) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            code, _, err = run("serve", "--port", str(busy.getsockname()[1]))
        self.assertEqual(code, 1)
        self.assert_one_line_error(err, "cannot listen on 127.0.0.1:")


class UnsendableInput(CliTestCase):
    """Input the CLI cannot encode, decode or send: one line, exit 2, nothing sent, no value shown."""

    def setUp(self) -> None:
        self.gateway = LocalGateway(api_key=KEY).start()
        self.addCleanup(self.gateway.close)
        self.url = self.gateway.url("chat_completions")

    def assert_refused(self, argv: List[str], *words: str, secret: str = KEY) -> str:
        code, out, err = run("stream", *argv)
        self.assertEqual((code, out), (2, ""), err)
        self.assert_one_line_error(err, *words)
        self.assertNotIn(secret, err)
        self.assertEqual(self.gateway.requests, [], "nothing may be sent")
        return err

    def test_body_files_that_are_not_utf8_say_what_they_are(self) -> None:
        body = '{"model": "m", "messages": [{"role": "user", "content": "caf\u00e9"}]}'
        cases = [
            (body.encode("utf-16"), "UTF-16 text"),
            (body.encode("utf-32"), "UTF-32 text"),
            (body.encode("utf-16-be"), "NUL bytes"),  # no byte-order mark
            (body.encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset"),
            (b"\x89PNG\r\n\x1a\n\x00\x00", "NUL bytes"),
        ]
        for data, words in cases:
            with self.subTest(words=words):
                path = self.temp_file(data)
                self.assert_refused([self.url, "-d", "@" + path], path, words)

    def test_a_utf8_body_file_with_a_byte_order_mark_is_sent(self) -> None:
        path = self.temp_file(json.dumps(sample_request("chat_completions")).encode("utf-8-sig"))
        code, out, err = run("stream", self.url, "-d", "@" + path, "--api-key", KEY)
        self.assertEqual((code, out), (0, DEFAULT_ANSWER + "\n"), err)

    def test_a_utf16_body_on_stdin_is_refused(self) -> None:
        process = spawn("stream", self.url, "-d", "@-", stdin=subprocess.PIPE)
        code, out, err = communicate(process, json.dumps(sample_request("chat_completions")).encode("utf-16"))
        self.assertEqual((code, out), (2, ""), err)
        self.assert_one_line_error(err, "stdin is UTF-16 text")

    def test_json_that_cannot_be_sent_is_refused(self) -> None:
        for body, words in [('{"t": NaN}', "NaN is not a JSON value"), ('[-Infinity]', "-Infinity is not a JSON value"),
                            ("[" * 600 + "]" * 600, "nested deeper than 500 levels")]:  # fmt: skip
            with self.subTest(body=body[:12]):
                self.assert_refused([self.url, "-d", body], "-d", words)
        deep = self.temp_file(b"[" * 100000 + b"]" * 100000)  # deeper than Python's recursion limit
        self.assert_refused([self.url, "-d", "@" + deep], "nested deeper")

    def test_header_values_and_names_http_cannot_carry(self) -> None:
        cases = [
            ("X-Note: caf\u00e9 \u2603 " + KEY, "the value of -H X-Note", "outside Latin-1, at character 6"),
            ("Authorization: Bearer " + KEY + "\u2011x", "the value of -H Authorization", "outside Latin-1"),
            ("X-Key: " + KEY + "\r\nX-Injected: 1", "the value of -H X-Key", "control character"),
            ("Authorization Bearer " + KEY + ": x", "-H option 2", "not a valid HTTP name"),  # space: no valid name
            ("x-api-key=" + KEY, "-H expects 'Name: value'", "not shown"),
            ("X-\u00e9t\u00e9: " + KEY, "-H option 2", "not a valid HTTP name"),
        ]
        for header, *words in cases:
            with self.subTest(header=header[:14]):
                err = self.assert_refused([self.url, "-d", "{}", "-H", "X-Fine: 1", "-H", header], *words)
                self.assertNotIn("\u2603", err)

    def test_api_keys_http_cannot_carry(self) -> None:
        for key, words in [(KEY + "\u2028", "outside Latin-1"), (KEY + "\u2011x", "outside Latin-1"),
                           (KEY + "\n", "control character")]:  # fmt: skip
            with self.subTest(key=key[-2:]):
                self.assert_refused([self.url, "-d", "{}", "--api-key", key], "--api-key", words)

    def test_an_environment_key_http_cannot_carry(self) -> None:
        process = spawn("stream", self.url, "-d", "{}", env={"SSEKIT_API_KEY": KEY + "\u2603"})
        code, out, err = communicate(process)
        self.assertEqual((code, out), (2, ""), err)
        self.assert_one_line_error(err, "$SSEKIT_API_KEY", "outside Latin-1")
        self.assertNotIn(KEY, err)
        self.assertEqual(self.gateway.requests, [])

    def test_arguments_that_are_not_text_in_the_terminal_encoding(self) -> None:
        if os.name == "nt":
            self.skipTest("POSIX passes arguments as bytes")
        cases = [
            ([b"-d", b'{"a": "\xff"}'], "-d holds bytes that are not valid text"),
            ([b"-d", b"{}", b"-H", b"X-A: \xfe" + KEY.encode()], "the value of -H X-A holds bytes that are not valid text"),
            ([b"-d", b"{}", b"--api-key", KEY.encode() + b"\xff"], "--api-key holds bytes"),
        ]
        for extra, words in cases:
            with self.subTest(words=words):
                code, out, err = communicate(spawn("stream", self.url, *extra, env={"LC_ALL": "C.UTF-8"}))
                self.assertEqual((code, out), (2, ""), err)
                self.assert_one_line_error(err, words)
                self.assertNotIn(KEY, err)
        self.assertEqual(self.gateway.requests, [])

    def test_urls_that_cannot_be_sent(self) -> None:
        port = self.gateway.url("chat_completions").split(":")[2].split("/")[0]
        cases = [
            ("http://[::1/v1?key=" + KEY, "malformed host"),
            ("http://127.0.0.1:99999/v1?key=" + KEY, "malformed host, port"),
            ("http://127.0.0.1:" + port + "/v1 /chat?key=" + KEY, "a space or a control character"),
            ("http://127.0.0.1:" + port + "/v1\x1b[2J?key=" + KEY, "a space or a control character"),
            ("http://\u2603.example/v1?key=" + KEY, "IDNA"),
            ("http:///v1?key=" + KEY, "no host"),
            ("file:///etc/passwd", "http:// or https://"),
        ]
        for url, words in cases:
            with self.subTest(url=url[:24]):
                self.assert_refused([url, "-d", "{}"], words)

    def test_unknown_arguments_are_named_but_values_not_echoed(self) -> None:
        code, _, err = run("stream", self.url, "-d", "{}", "--api-kye", KEY)
        self.assertEqual(code, 2)
        self.assertIn("unrecognized arguments: --api-kye, 1 other value(s), not shown", err)
        self.assertNotIn(KEY, err)

    def test_numbers_out_of_range_are_usage_errors(self) -> None:
        for option, value in [("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "1e300"), ("--deadline", "-1"),
                              ("--retry", "9" * 5000), ("--retry", "\u00b2"), ("--max-event-size", "0"),
                              ("--max-event-size", "1.5MiB"), ("--max-event-size", "9" * 5000)]:  # fmt: skip
            with self.subTest(option=option, value=value[:8]):
                code, _, err = run("stream", self.url, "-d", "{}", option, value)
                self.assertEqual(code, 2)
                self.assertIn("argument %s: " % option, err)
                self.assertNotIn("Traceback", err)
                self.assertLess(len(err), 2000)
        self.assertEqual(self.gateway.requests, [])

    def test_byte_sizes(self) -> None:
        sizes = {"65536": 65536, "1b": 1, "512KiB": 512 << 10, "512k": 512 << 10, "16MiB": 16 << 20, "16 mib": 16 << 20, "2GiB": 2 << 30}
        self.assertEqual({text: cli.byte_size(text) for text in sizes}, sizes)


class NoEvents(CliTestCase):
    """Input holding no SSE at all is an error on stderr, not a silent success."""

    def test_parse_and_accumulate_of_input_without_events_fail(self) -> None:
        random_bytes = bytes(range(256)) * 200
        cases = [
            (b"", "is empty"),
            (random_bytes, "its %d bytes hold no SSE event" % len(random_bytes)),
            (b'{"id": "chatcmpl-1", "choices": []}\n', "hold no SSE event"),
            (b": only a comment\n\nevent: ping\n\n", "hold no SSE event"),  # nothing dispatched
            (b"data: never ended", "hold no SSE event"),
        ]
        for data, words in cases:
            path = self.temp_file(data)
            for command in ("parse", "accumulate"):
                with self.subTest(command=command, data=data[:12]):
                    code, out, err = run(command, path)
                    self.assertEqual((code, out), (1, ""), err)
                    self.assert_one_line_error(err, "ssekit %s: no events" % command, path, words)

    def test_empty_stdin_fails(self) -> None:
        for command in ("parse", "accumulate"):
            with self.subTest(command=command):
                code, out, err = communicate(spawn(command, stdin=subprocess.PIPE), b"")
                self.assertEqual((code, out), (1, ""), err)
                self.assert_one_line_error(err, "no events: stdin is empty")


class ServerTextOnStderr(CliTestCase):
    """What a server sends is escaped before it reaches stderr: no ESC or BEL, no forged lines."""

    EVIL = "\x1b]2;pwned\x07\x1b[2K\rssekit stream: OK\nforged line\u202e"

    def test_an_error_body_is_escaped(self) -> None:
        body = json.dumps(sample_request("chat_completions"))
        with LocalGateway() as gateway:
            gateway.fail_next(400, message=self.EVIL)
            code, _, err = run("stream", gateway.url("chat_completions"), "-d", body)
            self.assertEqual(code, 1)
            self.assert_one_line_error(err, "HTTP 400", "\\x1b]2;pwned\\x07")
            self.assertIsNone(re.search("[\x00-\x1f\x7f\u202e]", err.rstrip("\n")), err)

    def test_retry_warnings_quoting_the_server_are_escaped(self) -> None:
        with LocalGateway() as gateway:
            gateway.fail_next(503, message=self.EVIL, times=3, retry_after=0)
            code, _, err = run("stream", gateway.url("chat_completions"), "-d", json.dumps(sample_request("chat_completions")), "-v")
        self.assertEqual(code, 1)
        lines = err.rstrip("\n").split("\n")
        self.assertEqual(len(lines), 3, err)  # two retry warnings, one error line
        for line in lines:
            self.assertIn("\\x1b]2;pwned\\x07", line)
            self.assertIsNone(re.search("[\x00-\x1f\x7f\u202e]", line), line)

    def test_an_error_event_in_a_recording_is_escaped(self) -> None:
        path = self.temp_file(b"".join(build_events("generation", "Half", error=self.EVIL)))
        code, out, err = run("accumulate", path)
        self.assertEqual(code, 1)
        self.assertEqual(json.loads(out)["text"], "Half")
        self.assert_one_line_error(err, "StreamError: ", "\\x1b]2;pwned")
        self.assertIsNone(re.search("[\x00-\x1f\x7f\u202e]", err.rstrip("\n")), err)


class CommandLineWords(CliTestCase):
    """Errors name the exception class and speak of options and output, never of .partial or max_event_size."""

    def setUp(self) -> None:
        self.gateway = LocalGateway().start()
        self.addCleanup(self.gateway.close)
        self.body = json.dumps(sample_request("chat_completions"))

    def assert_cli_words(self, err: str, *words: str) -> None:
        self.assert_one_line_error(err, *words)
        for library_word in (".partial", "max_event_size", "format=", "caller"):
            self.assertNotIn(library_word, err)

    def test_broken_and_stalled_streams_say_what_was_printed(self) -> None:
        cases = [
            (self.gateway.cut_next, [], "IncompleteStreamError: ", "the text received so far was printed on stdout"),
            (self.gateway.cut_next, ["--events"], "IncompleteStreamError: ", "the events received so far were printed on stdout"),
            (self.gateway.stall_next, ["--timeout", "0.3"], "StreamTimeoutError: ", "the text received so far was printed on stdout"),
        ]
        for fault, extra, *words in cases:
            with self.subTest(extra=extra):
                fault(after_tokens=3)
                code, out, err = run("stream", self.gateway.url("chat_completions"), "-d", self.body, *extra)
                self.assertEqual(code, 1)
                self.assertTrue(out)
                self.assert_cli_words(err, "ssekit stream: ", *words)

    def test_an_http_error_names_its_class(self) -> None:
        code, _, err = run("stream", self.gateway.url("chat_completions"), "-d", '{"messages": []}')
        self.assertEqual(code, 1)
        self.assertRegex(err, r"^ssekit stream: \w*Error: HTTP 400")

    def test_max_event_size_is_an_option_of_every_command_that_decodes(self) -> None:
        url = self.gateway.url("chat_completions")
        code, out, err = run("stream", url, "-d", self.body, "--max-event-size", "64")
        self.assertEqual((code, out), (1, ""))
        self.assert_cli_words(err, "ssekit stream: EventTooLargeError: ", "64-byte limit", "--max-event-size")
        code, out, err = run("stream", url, "-d", self.body, "--max-event-size", "1KiB")
        self.assertEqual((code, out), (0, DEFAULT_ANSWER + "\n"), err)
        path = self.temp_file(b"".join(build_events("chat_completions", "x" * 2000)))
        for command in ("parse", "accumulate"):
            with self.subTest(command=command):
                code, out, err = run(command, path, "--max-event-size", "1k")
                self.assertEqual(code, 1)
                self.assert_cli_words(err, "ssekit %s: EventTooLargeError: " % command, "1024-byte limit", "--max-event-size")
                self.assertEqual(run(command, path, "--max-event-size", "8KiB")[0], 0)

    def test_accumulate_of_a_cut_stream_says_it_printed_what_it_held(self) -> None:
        path = self.temp_file(b"".join(build_events("messages", "Hello there.")[:4]))
        code, out, err = run("accumulate", path)
        self.assertEqual(code, 1)
        self.assertFalse(json.loads(out)["complete"])
        self.assert_cli_words(err, "ssekit accumulate: IncompleteStreamError: ", "what the stream held so far was printed on stdout")


class ClosedPipe(CliTestCase):
    """A reader that stops early (``| head``) ends every command quietly: exit 0, nothing on stderr."""

    def assert_quiet(self, process: "subprocess.Popen[bytes]") -> None:
        process.stdout.close()  # type: ignore[union-attr]
        _, err = process.communicate(timeout=20)
        self.assertEqual(process.returncode, 0, err)
        for noise in (b"Traceback", b"Exception ignored", b"BrokenPipe", b"Errno"):
            self.assertNotIn(noise, err)

    def test_demo_piped_to_head(self) -> None:
        process = spawn("demo", "--pace", "0.01")
        self.assertEqual(len(process.stdout.read(60)), 60)  # type: ignore[union-attr]
        self.assert_quiet(process)

    def test_stream_piped_to_head(self) -> None:
        with LocalGateway(pace=0.01) as gateway:
            for extra in ([], ["--events"]):
                with self.subTest(extra=extra):
                    process = spawn("stream", gateway.url("messages"), "-d", json.dumps(sample_request("messages")), *extra)
                    process.stdout.read(60)  # type: ignore[union-attr]
                    self.assert_quiet(process)

    def test_parse_accumulate_and_help_into_a_closed_pipe(self) -> None:
        path = self.temp_file(b"".join(build_events("chat_completions", DEFAULT_ANSWER * 20)))
        for argv in (["parse", path], ["accumulate", path], ["--help"], ["stream", "--help"]):
            with self.subTest(argv=argv):
                process = spawn(*argv)
                self.assert_quiet(process)


if __name__ == "__main__":
    unittest.main()
