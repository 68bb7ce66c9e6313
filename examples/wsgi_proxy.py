"""A backend proxy for browsers: a WSGI app relays an LLM stream, the API key staying on the server.

The app serves a small page at ``GET /`` and takes ``POST /chat {"prompt": ...}``:
it streams the answer from the provider (Chat Completions) and relays it as
``generation`` frames with keep-alive comments, which the page shows as they
arrive. Run as is, it serves on wsgiref, sends one request to itself as a
browser would, prints the relayed text and exits; ``--serve`` keeps it running
(open http://127.0.0.1:PORT/, or ``curl -N -d '{"prompt": "Hi"}' http://127.0.0.1:PORT/chat``).
"""
import json
import socketserver
import sys
import threading
import urllib.request
import wsgiref.simple_server
from typing import Any, Callable, Dict, Iterable, List, Tuple

import ssekit
from _common import Target, target

StartResponse = Callable[[str, List[Tuple[str, str]]], Any]

#: The page: POSTs the prompt (EventSource cannot POST) and reads the relayed frames from the response body.
PAGE = rb"""<!doctype html>
<meta charset="utf-8"><title>ssekit relay</title>
<form id="ask"><input id="prompt" value="What are server-sent events?" size="50"> <button>Ask</button></form>
<pre id="answer" style="white-space: pre-wrap"></pre>
<script>
document.getElementById("ask").onsubmit = async (submitted) => {
  submitted.preventDefault();
  const answer = document.getElementById("answer");
  answer.textContent = "";
  const response = await fetch("/chat", {method: "POST", body: JSON.stringify({prompt: document.getElementById("prompt").value})});
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer.slice(0, end).split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim()).join("\n");
      buffer = buffer.slice(end + 2);
      if (!data || data === "[DONE]") continue;
      const frame = JSON.parse(data);
      if (frame.type === "content_delta") answer.textContent += frame.delta;
      if (frame.type === "error") answer.textContent += "\n[error: " + frame.message + "]";
    }
  }
};
</script>
"""


def make_app(where: Target) -> Callable[[Dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app: one upstream stream per request, relayed until the answer ends or the client leaves."""

    def app(environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"] == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(PAGE)))])
            return [PAGE]
        if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/chat":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"GET / or POST /chat\n"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        prompt = json.loads(environ["wsgi.input"].read(length) or b"{}").get("prompt", "Hi")
        body = {"model": where.model, "stream": True, "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": prompt}]}  # fmt: skip
        # The key comes from $SSEKIT_API_KEY (read by stream_completion): it never reaches the browser.
        upstream = ssekit.stream_completion(where.url("/chat/completions"), json=body, timeout=(10, 60))
        relayed = ssekit.relay(upstream, convert="generation", heartbeat=15)
        start_response(relayed.status, relayed.headers)
        return relayed  # the server calls relayed.close() at the end, or when the browser leaves

    return app


class ThreadedServer(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    """wsgiref with a thread per request (a stream holds its thread for as long as it lasts)."""

    daemon_threads = True


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    """Serve the proxy, ask it one question as a browser would (reading the relayed frames), print the answer."""
    with target(__doc__, pass_on=True) as where:
        server = wsgiref.simple_server.make_server("127.0.0.1", 0, make_app(where), server_class=ThreadedServer,
                                                   handler_class=QuietHandler)  # fmt: skip
        url = "http://127.0.0.1:%d/chat" % server.server_port
        if "--serve" in where.rest:
            print("serving on http://127.0.0.1:%d/ (Ctrl-C to stop)" % server.server_port, file=sys.stderr)
            server.serve_forever()
            return
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            with urllib.request.urlopen(url[: -len("chat")]) as page:
                print("the page: %d bytes of %s" % (len(page.read()), page.headers["Content-Type"]))
            # api_key="": nothing of the provider's key goes to our own proxy.
            with ssekit.stream_completion(url, json={"prompt": "What are server-sent events?"}, api_key="",
                                          format="generation", timeout=(5, 60)) as stream:  # fmt: skip
                for text in stream:
                    print(text, end="", flush=True)
            print()
            print("relayed as generation frames; tokens_used:", stream.completion.usage.total_tokens)
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


if __name__ == "__main__":
    main()
