"""The ssekit command line: demo, stream, parse, accumulate, serve; clear one-line errors; no key ever shown."""
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Any, List, Optional, Tuple

import requests

from ssekit import cli
from ssekit.testing import DEFAULT_ANSWER, DEFAULT_PROMPT, PATHS, LocalGateway, build_events, sample_request, split_tokens

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


def spawn(*argv: str, **kwargs: Any) -> "subprocess.Popen[bytes]":
    """``python -m ssekit ARGV`` as a child process (for stdin, signals and the real entry point)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(kwargs.pop("env", {}))
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

    def test_retries_are_announced_then_succeed(self) -> None:
        self.gateway.fail_next(503, retry_after=0)
        code, out, err = run("stream", self.gateway.url("chat_completions"), "-d", self.body(), "--api-key", KEY)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, DEFAULT_ANSWER + "\n")
        self.assertIn("ssekit: attempt 1 failed, retrying", err)

    def test_incomplete_stream_keeps_the_text_and_fails(self) -> None:
        self.gateway.cut_next(after_tokens=5)
        code, out, err = run("stream", self.gateway.url("messages"), "-d", self.body("messages"), "--api-key", KEY)
        self.assertEqual(code, 1)
        self.assertEqual(out, "".join(split_tokens(DEFAULT_ANSWER)[:5]) + "\n")
        self.assert_one_line_error(err, "ssekit stream: ")

    def test_stalled_stream_times_out(self) -> None:
        self.gateway.stall_next(after_tokens=2)
        code, out, err = run("stream", self.gateway.url("chat_completions"), "-d", self.body(), "--api-key", KEY,
                             "--timeout", "0.3")  # fmt: skip
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


if __name__ == "__main__":
    unittest.main()
