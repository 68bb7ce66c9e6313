"""The testing twin of each wire format: one module per format, listed in :data:`PROVIDERS`.

Each module holds what ssekit's local gateway and stream builders know of its
provider: ``events(...)`` (a byte-exact stream) and ``result(...)`` (the
non-streamed answer) from the keywords of :mod:`.base`; how its requests are
read (``PATH``, ``PROMPT_KEYS``, ``SYSTEM_KEY``, ``MAX_TOKENS_KEYS``, ``tool()``,
``wants_usage()``, ``sample_request()``); ``error_body()``; and ``ID_PREFIX``.
A new format adds its module and one line here.
"""
from types import ModuleType
from typing import Dict

from . import chat_completions, cohere, generation, messages, responses

#: Format name (as in :data:`ssekit.formats.FORMATS`) -> its testing twin.
PROVIDERS = {
    "chat_completions": chat_completions,
    "responses": responses,
    "messages": messages,
    "generation": generation,
    "cohere": cohere,
}  # type: Dict[str, ModuleType]
