"""Every example runs (as a subprocess, a few at a time): with no arguments against its embedded gateway,
and with --base-url/--model/$SSEKIT_API_KEY against a gateway that requires the key (on CI's lighter
suites, a share of them: see :data:`REMOTE`)."""
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import threading
import unittest
import wsgiref.simple_server
import zlib
from typing import Dict, List, Optional, Tuple

from ssekit.testing import DEFAULT_ANSWER, LocalGateway, split_tokens

from .sizes import scaled
from .support import skip_with_reason

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(
    os.path.basename(path)[:-3] for path in glob.glob(os.path.join(ROOT, "examples", "*.py")) if not os.path.basename(path).startswith("_")
)
KEY = "sk-example-key-never-printed"
TOKENS = split_tokens(DEFAULT_ANSWER)
#: Examples running at once: they mostly wait on their streams, but forty started together on a loaded
#: 2-core machine could not all finish within their timeout.
AT_ONCE = 4


def _remote_share(names: List[str]) -> List[str]:
    """The examples run against the remote gateway: all at full size (tests/sizes.py); at a smaller size,
    that share of them, starting at a place that depends on the interpreter, so CI's suites differ."""
    count = scaled(len(names))
    start = zlib.crc32(sys.version.encode()) % len(names)
    return sorted((names * 2)[start : start + count]) if count < len(names) else names


#: The examples run a second time against a remote gateway (their --base-url handling, the key's header).
REMOTE = _remote_share(EXAMPLES)

Result = Tuple[int, str, str]


def _start(name: str, *args: str, env: Optional[Dict[str, str]] = None) -> "subprocess.Popen[bytes]":
    environment = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    environment.pop("SSEKIT_API_KEY", None)
    environment.update(env or {})
    script = os.path.join(ROOT, "examples", name + ".py")
    return subprocess.Popen([sys.executable, script] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=environment, cwd=ROOT)  # fmt: skip


def _finish(process: "subprocess.Popen[bytes]") -> Result:
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out.decode("utf-8"), err.decode("utf-8")


class Examples(unittest.TestCase):
    """Runs every example once (a few in parallel), then checks each one's output."""

    local = {}  # type: Dict[str, Result]
    remote = {}  # type: Dict[str, Result]
    remote_requests = []  # type: List[Dict[str, Optional[str]]]

    @classmethod
    def setUpClass(cls) -> None:
        with LocalGateway(api_key=KEY) as gateway:
            # Each provider's own base URL, as a real run would give it (Google's is .../v1beta).
            bases = {"format_gemini": gateway.server.url("/v1beta")}
            with concurrent.futures.ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
                local = {name: pool.submit(lambda name: _finish(_start(name)), name) for name in EXAMPLES}
                remote = {name: pool.submit(lambda name: _finish(_start(name, "--base-url", bases.get(name, gateway.base_url),
                                                                        "--model", "remote-model", env={"SSEKIT_API_KEY": KEY})), name)
                          for name in REMOTE}  # fmt: skip
                cls.local = {name: future.result() for name, future in local.items()}
                cls.remote = {name: future.result() for name, future in remote.items()}
            cls.remote_requests = [
                {"path": request.path, "auth": request.headers.get("Authorization"), "x-api-key": request.headers.get("x-api-key"),
                 "x-goog-api-key": request.headers.get("x-goog-api-key"),
                 "model": request.params.get("model") or (request.json() or {}).get("model")}
                for request in gateway.requests
            ]

    def output(self, name: str) -> str:
        code, out, err = self.local[name]
        self.assertEqual(code, 0, "%s failed:\n%s%s" % (name, out, err))
        self.assertNotIn("Traceback", err)
        return out

    def test_every_use_case_has_an_example(self) -> None:
        wanted = {
            "basic_print", "collect_response", "usage_stats", "tool_calls", "cancel_after_tokens", "cancel_from_thread",
            "timeouts", "retry_backoff", "format_chat_completions", "format_responses", "format_messages",
            "format_generation", "format_cohere", "format_gemini", "follow_feed", "testing_with_ssekit", "tool_loop", "wsgi_proxy",
        }  # fmt: skip
        self.assertLessEqual(wanted, set(EXAMPLES))

    def test_basic_print(self) -> None:
        self.assertEqual(self.output("basic_print"), DEFAULT_ANSWER + "\n")

    def test_collect_response(self) -> None:
        out = self.output("collect_response")
        self.assertIn("text: " + DEFAULT_ANSWER + "\n", out)
        self.assertIn("finish_reason: stop\ncomplete: True\n", out)
        self.assertIn("id: chatcmpl-local1 model: ssekit-local", out)

    def test_usage_stats(self) -> None:
        out = self.output("usage_stats")
        self.assertIn("output tokens: %d\n" % len(TOKENS), out)
        self.assertIn("input tokens: 6\n", out)
        self.assertIn("total tokens: %d\n" % (len(TOKENS) + 6), out)
        self.assertRegex(out, r"speed: \d+ tokens/s")

    def test_tool_calls(self) -> None:
        out = self.output("tool_calls")
        self.assertIn("finish_reason: tool_calls", out)
        self.assertIn('get_weather({"city": "Paris", "unit": "celsius"})', out)
        self.assertIn("result: 18 degrees celsius and sunny in Paris", out)

    def test_tool_loop(self) -> None:
        out = self.output("tool_loop")
        self.assertIn('The tools said: get_weather returned {"city": "Paris", "temperature": 18, "unit": "celsius", "sky": "sunny"}.\n', out)
        self.assertIn("rounds: 2, finish_reason: stop\n", out)
        self.assertIn('"role": "tool"', out)

    def test_cancel_after_tokens(self) -> None:
        lines = self.output("cancel_after_tokens").splitlines()
        self.assertEqual(lines[0], "".join(TOKENS[:10]))
        self.assertEqual(lines[1], "stopped after 10 pieces; cancelled: True; complete: False")

    def test_cancel_from_thread(self) -> None:
        lines = self.output("cancel_from_thread").splitlines()
        self.assertTrue(DEFAULT_ANSWER.startswith(lines[0]) and 0 < len(lines[0]) < len(DEFAULT_ANSWER), lines[0])
        self.assertEqual(lines[1], "cancelled by another thread after %d characters" % len(lines[0]))

    def test_timeouts(self) -> None:
        lines = self.output("timeouts").splitlines()
        self.assertEqual(lines[0], "read timeout: %r arrived before the server went silent" % "".join(TOKENS[:5]))
        self.assertRegex(lines[1], r"^deadline: \d+ characters arrived before the deadline$")
        self.assertLess(int(lines[1].split()[1]), len(DEFAULT_ANSWER))

    def test_retry_backoff(self) -> None:
        out = self.output("retry_backoff")
        self.assertEqual(
            out.splitlines(),
            [
                "retry=3: %d characters" % len(DEFAULT_ANSWER),
                "retry=Retry(...): %d characters" % len(DEFAULT_ANSWER),
                "ssekit.attempts(): %d characters after 2 tries" % len(DEFAULT_ANSWER),
            ],
        )
        err = self.local["retry_backoff"][2]
        self.assertEqual(err.count("HTTP 429 Too Many Requests"), 2)
        self.assertIn("HTTP 503", err)
        self.assertIn("HTTP 500", err)

    def test_format_chat_completions(self) -> None:
        out = self.output("format_chat_completions")
        self.assertIn("".join(TOKENS[:40]) + "\n", out)
        self.assertIn("finish_reason: length (sent as 'length')", out)
        self.assertIn("usage: 10 in, 40 out (sent as completion_tokens, prompt_tokens, total_tokens)", out)

    def test_format_responses(self) -> None:
        out = self.output("format_responses")
        self.assertIn("".join(TOKENS[:30]) + "\n", out)
        self.assertIn("finish_reason: length (raw: 'max_output_tokens')", out)
        self.assertIn("usage: 12 in, 30 out, id resp_local1", out)

    def test_format_messages(self) -> None:
        out = self.output("format_messages")
        self.assertIn(DEFAULT_ANSWER + "\n", out)
        self.assertIn("finish_reason: stop (stop_reason 'end_turn')", out)
        self.assertIn("usage: 10 in (message_start), %d out (message_delta)" % len(TOKENS), out)

    def test_format_generation(self) -> None:
        out = self.output("format_generation")
        self.assertIn(DEFAULT_ANSWER + "\n", out)
        self.assertIn("finish_reason: stop", out)
        self.assertIn("tokens_used: %d, balance_remaining: 9000" % (len(TOKENS) + 6), out)
        self.assertIn("generation id (log it for support): gen_local1", out)

    def test_format_cohere(self) -> None:
        out = self.output("format_cohere")
        self.assertIn(DEFAULT_ANSWER + "\n", out)
        self.assertIn("finish_reason: stop (raw 'COMPLETE')", out)
        self.assertIn("usage: 12 in, %d out (billed: 12 in, %d out)" % (len(TOKENS), len(TOKENS)), out)
        if "format_cohere" in self.remote:
            self.assertIn("/v2/chat", [request["path"] for request in self.remote_requests])

    def test_format_gemini(self) -> None:
        out = self.output("format_gemini")
        self.assertIn("".join(TOKENS[:30]) + "\n", out)
        self.assertIn("finish_reason: length (raw: 'MAX_TOKENS')", out)
        self.assertIn("usage: 10 in, 30 out (0 thinking), responseId gemini-local1", out)
        self.assertIn("parts: 1, 0 with a thoughtSignature", out)

    def test_follow_feed(self) -> None:
        lines = self.output("follow_feed").splitlines()
        self.assertEqual(lines[0], "event progress id=1: step 1 of 6, running")
        self.assertEqual(lines[5], "event progress id=6: step 6 of 6, done")
        self.assertEqual(lines[6:], ["feed finished"])

    def test_wsgi_proxy(self) -> None:
        out = self.output("wsgi_proxy")
        page, text, summary = out.rstrip("\n").split("\n")
        self.assertRegex(page, r"^the page: \d+ bytes of text/html; charset=utf-8$")
        self.assertEqual(text, DEFAULT_ANSWER)
        self.assertRegex(summary, r"^relayed as generation frames; tokens_used: \d+$")
        self.assertGreater(int(summary.split()[-1]), len(TOKENS))  # the upstream usage, relayed (output + prompt tokens)
        if "wsgi_proxy" in self.remote:  # through a gateway that wants the key: it went upstream, not to the proxy's client
            self.assertIn("\n" + DEFAULT_ANSWER + "\n", self.remote["wsgi_proxy"][1])

    def test_wsgi_proxy_page_shows_the_relayed_answer(self) -> None:
        """The page's own script, run by Node.js (its fetch and streams are the browser's), reads the frames."""
        node = shutil.which("node")
        if node is None:
            skip_with_reason(self, "Node.js is not installed here: the page's script is not run")
        sys.path.insert(0, os.path.join(ROOT, "examples"))
        try:
            import wsgi_proxy
            from _common import Target
        finally:
            sys.path.pop(0)
        script = re.search(rb"<script>(.*)</script>", wsgi_proxy.PAGE, re.S)
        assert script is not None
        with LocalGateway() as gateway:
            server = wsgiref.simple_server.make_server("127.0.0.1", 0, wsgi_proxy.make_app(Target(gateway.base_url, "m", None, gateway, [])),
                                                       server_class=wsgi_proxy.ThreadedServer, handler_class=wsgi_proxy.QuietHandler)  # fmt: skip
            thread = threading.Thread(target=server.serve_forever)
            thread.start()
            try:
                page = (
                    'const shown = {answer: {textContent: ""}, prompt: {value: "Hi"}, ask: {}};\n'
                    "globalThis.document = {getElementById: (id) => shown[id]};\n"
                    "const browserFetch = fetch;\n"
                    'globalThis.fetch = (path, options) => browserFetch("http://127.0.0.1:%d" + path, options);\n'
                    "%s\nshown.ask.onsubmit({preventDefault() {}}).then(() => process.stdout.write(shown.answer.textContent));\n"
                ) % (server.server_port, script.group(1).decode())
                run = subprocess.run([node, "-e", page], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            finally:
                server.shutdown()
                server.server_close()
                thread.join()
        self.assertEqual(run.stdout.decode(), DEFAULT_ANSWER, run.stderr.decode())

    def test_testing_with_ssekit(self) -> None:
        self.output("testing_with_ssekit")
        for results in [self.local] + ([self.remote] if "testing_with_ssekit" in self.remote else []):  # (the remote run too)
            err = results["testing_with_ssekit"][2]
            self.assertRegex(err, r"Ran [1-9]\d* tests? in")
            self.assertTrue(err.rstrip().endswith("OK"), err)

    def test_testing_with_ssekit_passes_unittest_options_on(self) -> None:
        code, _, err = _finish(_start("testing_with_ssekit", "-v", "-k", "SummarizeAgainstAnEndpoint"))
        self.assertEqual(code, 0, err)
        self.assertIn("test_summarize_returns_text", err)
        self.assertRegex(err, r"Ran 1 test in")

    def test_every_example_runs_against_a_remote_gateway_with_the_key_from_the_environment(self) -> None:
        self.assertEqual(sorted(self.remote), REMOTE)
        for name, (code, out, err) in sorted(self.remote.items()):
            with self.subTest(example=name):
                self.assertEqual(code, 0, "%s failed:\n%s%s" % (name, out, err))
                self.assertNotIn(KEY, out + err)
        self.assertTrue(self.remote_requests)
        for request in self.remote_requests:
            if request["path"].endswith("/messages"):  # Anthropic's header, never Authorization
                self.assertEqual((request["x-api-key"], request["auth"]), (KEY, None), request["path"])
            elif request["path"].endswith(":streamGenerateContent"):  # Google's header, never in the URL
                self.assertEqual((request["x-goog-api-key"], request["auth"]), (KEY, None), request["path"])
            else:
                self.assertEqual((request["auth"], request["x-api-key"]), ("Bearer " + KEY, None), request["path"])
        models = {request["model"] for request in self.remote_requests if request["path"] != "/v1/events"}
        self.assertEqual(models, {"remote-model"})

    def test_base_url_needs_a_model(self) -> None:
        code, _, err = _finish(_start("basic_print", "--base-url", "http://127.0.0.1:9/v1"))
        self.assertEqual(code, 2)
        self.assertIn("--model is required with --base-url", err)


if __name__ == "__main__":
    unittest.main()
