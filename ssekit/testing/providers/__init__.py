"""The testing twin of each wire format: one module per format, listed in :data:`PROVIDERS`.

Each module holds what ssekit's local gateway and stream builders know of its
provider: ``events(...)`` (a byte-exact stream) and ``result(...)`` (the
non-streamed answer) from the keywords of :mod:`.base`; how its requests are
read (``PATH``, ``PROMPT_KEYS``, ``SYSTEM_KEY``, ``MAX_TOKENS_KEYS``, ``tools()``,
``wants_usage()``, ``sample_request()``); ``error_body()``; and ``ID_PREFIX``.
For follow-up requests (the assistant turn and tool results sent back),
``follow_up(body, thinking)`` returns the tool results the history holds as
``(name, output)`` pairs, raising :class:`~.base.Refusal` for what the real API
refuses, and ``thinking(reasoning, tool_calls)`` gives the builder options of
a thinking model's tool-call turn, signed so that ``follow_up`` can check it
came back unchanged.
``PATH`` is the endpoint as clients call it: a ``{model}`` placeholder stands for
any model named in the path, and a query may follow. A twin whose API names
streaming in the path rather than with ``"stream": true`` also has
``RESULT_PATH``, the non-streamed endpoint. ``MAX_TOKENS_KEYS`` may name nested
keys with dots (``generationConfig.maxOutputTokens``).
A new format adds its module and one line here.
"""
from types import ModuleType
from typing import Dict

from . import chat_completions, cohere, gemini, generation, messages, responses

#: Format name (as in :data:`ssekit.formats.FORMATS`) -> its testing twin.
PROVIDERS = {
    "chat_completions": chat_completions,
    "responses": responses,
    "messages": messages,
    "generation": generation,
    "cohere": cohere,
    "gemini": gemini,
}  # type: Dict[str, ModuleType]
