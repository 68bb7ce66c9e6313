"""What every example shares: where to send requests, with which model and key.

With no arguments an example starts ssekit's embedded local gateway in its own
process (no network, no key). With ``--base-url`` (and ``--model``) it talks
to a real provider or gateway instead, the API key taken from the
``SSEKIT_API_KEY`` environment variable.
"""
import argparse
import contextlib
import os
from typing import Any, Dict, Iterator, List, Optional

from ssekit.stream import API_KEY_ENV
from ssekit.testing import DEFAULT_MODEL, LocalGateway


class Target:
    """Where an example sends its requests: ``url(path)``, ``model``, ``api_key``.

    ``stream_completion`` reads the key from the environment by itself;
    ``api_key`` is there for requests that need it elsewhere (Anthropic's
    ``x-api-key``). ``gateway`` is the embedded :class:`LocalGateway` when no
    ``--base-url`` was given (examples use it to stage faults), else None.
    ``rest`` holds the arguments left for the script itself (see :func:`target`).
    """

    def __init__(
        self, base_url: str, model: str, api_key: Optional[str], gateway: Optional[LocalGateway], rest: List[str]
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.gateway = gateway
        self.rest = rest

    def url(self, path: str) -> str:
        """The endpoint *path* under the base URL, e.g. ``url("/chat/completions")``."""
        return self.base_url + "/" + path.lstrip("/")


@contextlib.contextmanager
def target(description: str, *, pace: float = 0.01, pass_on: bool = False) -> Iterator[Target]:
    """Parse ``--base-url`` / ``--model`` and yield the :class:`Target` (the local gateway by default).

    *pace* is the local gateway's pause between tokens, in seconds. With
    *pass_on*, other arguments are left in ``Target.rest`` (for a script that
    hands them to unittest) instead of being refused.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--base-url", help="a real API base URL, e.g. https://api.openai.com/v1 "
                        "(default: ssekit's embedded local gateway); the key comes from $%s" % API_KEY_ENV)
    parser.add_argument("--model", help="the model to ask (required with --base-url)")
    args, rest = parser.parse_known_args() if pass_on else (parser.parse_args(), [])
    if args.base_url:
        if not args.model:
            parser.error("--model is required with --base-url")
        yield Target(args.base_url, args.model, os.environ.get(API_KEY_ENV), None, rest)
        return
    with LocalGateway(pace=pace) as gateway:
        yield Target(gateway.base_url, args.model or DEFAULT_MODEL, None, gateway, rest)


#: The tool the tool-call examples offer (Chat Completions' shape).
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "examples": ["Paris"]},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}


def weather_request(model: str) -> Dict[str, Any]:
    """A streamed Chat Completions request that offers :data:`WEATHER_TOOL` and asks for the weather."""
    return {
        "model": model,
        "stream": True,
        "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
    }
