"""Partial JSON: the value that a prefix of a JSON document describes so far (standard library only).

LLM streams send tool-call arguments and JSON-mode answers as fragments of one
JSON text; a UI wants to show ``get_weather(city="Par`` before the text ends.
:func:`parse_partial_json` reads one prefix; :class:`PartialJSONParser` is fed
the fragments as they arrive and keeps its state between them, so a whole
stream costs O(n) however often its ``value`` is read.

What a prefix gives:

* containers appear as soon as they open: ``'{"a": [1, {'`` gives
  ``{"a": [1, {}]}``;
* a cut string is kept as far as it goes: ``'{"a": "Par'`` gives
  ``{"a": "Par"}``. An escape cut in the middle is left out until complete, and
  so is a ``\\uD83D`` high surrogate until the next character shows whether
  its low half follows (the pair is then one character, as in ``json.loads``);
* a cut number is left out until a delimiter shows that it ended: ``'[1, 2'``
  gives ``[1]``, since the 2 may become 25 or 2.5. A literal (``true``,
  ``false``, ``null``, ``NaN``, ``Infinity``, ``-Infinity``) appears once fully
  spelled, since nothing can extend it;
* an object key without its value, or a cut key, is left out: ``'{"a": '``
  gives ``{}``; ``'{"a": "'`` gives ``{"a": ""}`` and ``'{"a": ['`` gives
  ``{"a": []}`` (the value has opened);
* empty or whitespace-only text gives ``None``.

A complete document gives exactly what :func:`json.loads` gives, because the
parser keeps json.loads's rules: only `` \\t\\n\\r`` as whitespace, no raw
control character (U+0000 to U+001F) in a string, only the eight one-letter
escapes and ``\\uXXXX``, no leading zeros, no ``+`` sign, no trailing commas,
``NaN`` / ``Infinity`` / ``-Infinity`` accepted as floats, an integer of more
digits than Python's ``int()`` converts refused, and the last value of a
duplicated key kept at the key's first position. Text that no continuation
can make into JSON raises :class:`~ssekit.errors.PartialJSONError` (an
:class:`~ssekit.errors.SSEKitError` and a ``ValueError``) with the position
of the first offending character. No other exception comes from the text: the
nesting lives on an explicit stack, so any depth works (``json.loads`` itself
raises RecursionError past about a thousand levels; here the parser takes over).
"""
import json
import re
import threading
from typing import Any, Callable, Dict, List, Match, Optional, Union, cast

from ._text import preview
from .errors import PartialJSONError

__all__ = ["PartialJSONParser", "parse_partial_json"]

Container = Union[Dict[str, Any], List[Any]]

#: ``match(text, pos)`` of a pattern that accepts the empty run, so it never gives None.
_RunMatch = Callable[[str, int], Match[str]]


def _run(pattern: str) -> _RunMatch:
    return cast(_RunMatch, re.compile(pattern).match)


_whitespace = _run(r"[ \t\n\r]*")
#: A run of string characters that need no attention: not a quote, a backslash or a control character.
_string_run = _run(r'[^"\\\x00-\x1f]*')
_digits = _run(r"[0-9]*")
_hex_digits = _run(r"[0-9a-fA-F]*")

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}  # type: Dict[str, Any]
#: The literal a value starting with this character must be ("-Infinity" starts as a number).
_LITERAL_STARTS = {"t": "true", "f": "false", "n": "null", "N": "NaN", "I": "Infinity"}

# Where the parser is between tokens: what the next non-whitespace character may be.
_TOP = 0  # the top-level value
_DONE = 1  # nothing: the document is complete
_ARRAY_FIRST = 2  # an item or "]"
_ARRAY_ITEM = 3  # an item (after ",")
_ARRAY_NEXT = 4  # "," or "]"
_OBJECT_FIRST = 5  # a key or "}"
_OBJECT_KEY = 6  # a key (after ",")
_OBJECT_COLON = 7  # ":"
_OBJECT_VALUE = 8  # a member value
_OBJECT_NEXT = 9  # "," or "}"

# The token being read, which may continue in the next fragment.
_NO_TOKEN = 0
_STRING = 1  # a string value
_KEY = 2  # an object key
_NUMBER = 3
_LITERAL = 4

# Where a number is in its grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?
_N_START = 0
_N_MINUS = 1
_N_ZERO = 2  # complete
_N_INT = 3  # complete
_N_DOT = 4
_N_FRACTION = 5  # complete
_N_E = 6
_N_E_SIGN = 7
_N_EXPONENT = 8  # complete
#: The state after a run of digits, from the state before it (a leading "0" is handled apart).
_AFTER_DIGITS = {
    _N_START: _N_INT,
    _N_MINUS: _N_INT,
    _N_INT: _N_INT,
    _N_DOT: _N_FRACTION,
    _N_FRACTION: _N_FRACTION,
    _N_E: _N_EXPONENT,
    _N_E_SIGN: _N_EXPONENT,
    _N_EXPONENT: _N_EXPONENT,
}
#: What an unfinished number needs next, for the error message.
_NUMBER_NEEDS = {
    _N_MINUS: "a digit or 'Infinity' after '-'",
    _N_DOT: "a digit after the decimal point",
    _N_E: "a digit or a sign in the exponent",
    _N_E_SIGN: "a digit in the exponent",
}


class PartialJSONParser:
    """Reads one JSON document fed in fragments; ``value`` is what it describes so far.

    ``feed(fragment)`` takes the next piece of text; ``value`` is the value so
    far (the rules are in the module docstring); ``consumed`` counts the
    characters fed; ``complete`` is True once a whole document was seen
    (whitespace may still follow, anything else raises). Each character is read
    once, runs of string characters, digits and whitespace by one ``re`` match,
    so a whole stream costs O(n) in total.

    ``value`` is live: the top-level object or array, and every container in it,
    is the same object from the moment it opens, updated in place as more text
    arrives (a cut string is replaced by its longer self). Reading it costs
    O(1) amortised, except while a string is cut: then it costs that string's
    length, which is what building the Python ``str`` costs. Do not change the
    containers (the parser keeps filling them); copy them to keep a snapshot.

    A top-level number is never complete here, since the next fragment may
    extend it (``value`` stays None after ``"12"``); :func:`parse_partial_json`,
    which is given the whole text, gives ``12``. After a
    :class:`~ssekit.errors.PartialJSONError`, every ``feed`` raises it again and
    ``value`` keeps what came before the offending character.
    """

    def __init__(self) -> None:
        self._root = None  # type: Any
        #: The open containers, outermost first.
        self._stack = []  # type: List[Container]
        #: The key of the member being read in the innermost object.
        self._key = ""
        #: Beside each open container, the key it has in its parent object (None in an array or at the top).
        self._keys = []  # type: List[Optional[str]]
        self._state = _TOP
        self._token = _NO_TOKEN
        #: Where the current number started (absolute position), for its error message.
        self._start = 0
        #: The current string (decoded) or number (as written), as fed so far.
        self._parts = []  # type: List[str]
        #: A cut escape ("\\", "\\u", "\\u0"...), or "".
        self._escape = ""
        #: A decoded high surrogate waiting to see whether its low half follows, or 0.
        self._high = 0
        self._number = _N_START
        #: The literal being spelled and how many of its characters arrived.
        self._word = ""
        self._spelled = 0
        #: The cut string value has grown since ``value`` last put it in place.
        self._dirty = False
        self._consumed = 0
        self._error = None  # type: Union[PartialJSONError, None]

    @property
    def value(self) -> Any:
        """The value so far (None before any value began); see the class docstring for its cost."""
        if self._dirty:
            shown = "".join(self._parts)
            self._parts = [shown]
            self._place(shown, replace=True)
            self._dirty = False
        return self._root

    def snapshot(self) -> Any:
        """:attr:`value` as it is now, in a form later fragments leave alone (do not change it either).

        The containers still open are copied (shallow, each one C-speed copy),
        and the closed ones are shared: the parser never touches a container
        again once it closed. So a snapshot costs the size of the open
        containers, not of the whole value.
        """
        value = self.value  # (puts a cut string in place first)
        stack = self._stack
        if not stack:
            return value  # a scalar, or a complete document: nothing will change it
        copies = [container.copy() for container in stack]  # type: List[Any]
        for depth in range(1, len(stack)):
            key = self._keys[depth]
            if key is None:
                copies[depth - 1][-1] = copies[depth]  # an open container is its array's last item
            else:
                copies[depth - 1][key] = copies[depth]
        return copies[0]

    @property
    def consumed(self) -> int:
        """How many characters were fed (the fragment that raised not counted)."""
        return self._consumed

    @property
    def complete(self) -> bool:
        """True once a whole JSON document was fed (a top-level number needs a delimiter after it)."""
        return self._state == _DONE

    def feed(self, fragment: str) -> None:
        """Read the next *fragment* of the document; PartialJSONError if the text can no longer be JSON."""
        if self._error is not None:
            raise self._error
        if not isinstance(fragment, str):
            raise TypeError("PartialJSONParser.feed() takes str, not %s" % type(fragment).__name__)
        pos = 0
        end = len(fragment)
        try:
            while pos < end:
                token = self._token
                if token == _NO_TOKEN:
                    pos = self._between(fragment, pos, end)
                elif token == _STRING or token == _KEY:
                    pos = self._string(fragment, pos, end)
                elif token == _NUMBER:
                    pos = self._number_token(fragment, pos, end)
                else:
                    pos = self._literal(fragment, pos, end)
        except PartialJSONError as exc:
            self._error = exc
            raise
        self._consumed += end

    def _end_of_text(self) -> None:
        """The text ends here: a top-level number complete so far is the document (for parse_partial_json).

        json.loads refuses such a number only when it has more digits than
        ``int()`` converts, so this raises that error as a PartialJSONError.
        """
        if self._token == _NUMBER and not self._stack and self._number not in _NUMBER_NEEDS:
            self._end_number("".join(self._parts), self._number)

    # --- errors ----------------------------------------------------------------

    def _error_at(self, position: int, message: str) -> PartialJSONError:
        return PartialJSONError("not JSON at position %d: %s" % (position, message), position=position)

    def _unexpected(self, text: str, pos: int, expected: str) -> PartialJSONError:
        """The error for the character at *pos* of *text* where *expected* had to come."""
        return self._error_at(self._consumed + pos, "expected %s, found %s" % (expected, preview(text[pos])))

    # --- placing values --------------------------------------------------------

    def _place(self, value: Any, replace: bool = False) -> None:
        """Put a value that has begun (or, for a scalar, ended) where it belongs; with *replace*, in place
        of the string value just placed (its longer or final self)."""
        stack = self._stack
        if not stack:
            self._root = value
            return
        top = stack[-1]
        if isinstance(top, dict):
            top[self._key] = value
        elif replace:
            top[-1] = value
        else:
            top.append(value)

    def _close(self) -> None:
        """The innermost container ended."""
        self._stack.pop()
        self._keys.pop()
        self._after_value()

    def _after_value(self) -> None:
        """A value ended: the next token is a delimiter of its container (or nothing at the top)."""
        stack = self._stack
        if not stack:
            self._state = _DONE
        elif isinstance(stack[-1], dict):
            self._state = _OBJECT_NEXT
        else:
            self._state = _ARRAY_NEXT

    # --- between tokens --------------------------------------------------------

    def _between(self, text: str, pos: int, end: int) -> int:
        """Read whitespace and punctuation up to the start of the next token (or the end of *text*)."""
        while True:
            pos = _whitespace(text, pos).end()
            if pos == end:
                return pos
            char = text[pos]
            state = self._state
            if state == _ARRAY_NEXT:
                if char == ",":
                    self._state = _ARRAY_ITEM
                elif char == "]":
                    self._close()
                else:
                    raise self._unexpected(text, pos, "',' or ']' after an array item")
                pos += 1
            elif state == _OBJECT_NEXT:
                if char == ",":
                    self._state = _OBJECT_KEY
                elif char == "}":
                    self._close()
                else:
                    raise self._unexpected(text, pos, "',' or '}' after an object member")
                pos += 1
            elif state == _OBJECT_COLON:
                if char != ":":
                    raise self._unexpected(text, pos, "':' after an object key")
                self._state = _OBJECT_VALUE
                pos += 1
            elif state == _OBJECT_FIRST or state == _OBJECT_KEY:
                if char == '"':
                    self._token = _KEY
                    self._parts = []
                    return pos + 1
                if char != "}" or state == _OBJECT_KEY:
                    raise self._unexpected(
                        text, pos, "a '\"' to start a key" + (" or '}'" if state == _OBJECT_FIRST else "")
                    )
                self._close()
                pos += 1
            elif state == _DONE:
                raise self._unexpected(text, pos, "nothing but whitespace after the JSON document")
            elif char == "]" and state == _ARRAY_FIRST:
                self._close()
                pos += 1
            else:  # a value: at the top, as an array item or as a member's value
                return self._begin_value(text, pos)

    def _begin_value(self, text: str, pos: int) -> int:
        """Start the value whose first character is at *pos*; the position to read on from."""
        char = text[pos]
        if char == "{" or char == "[":
            container = {} if char == "{" else []  # type: Container
            self._place(container)
            self._keys.append(self._key if self._stack and isinstance(self._stack[-1], dict) else None)
            self._stack.append(container)
            self._state = _OBJECT_FIRST if char == "{" else _ARRAY_FIRST
            return pos + 1
        if char == '"':
            self._place("")
            self._token = _STRING
            self._parts = []
            return pos + 1
        if char == "-" or "0" <= char <= "9":
            self._start = self._consumed + pos
            self._token = _NUMBER
            self._number = _N_START
            self._parts = []
            return pos
        word = _LITERAL_STARTS.get(char)
        if word is None:
            raise self._unexpected(text, pos, "a JSON value")
        self._token = _LITERAL
        self._word = word
        self._spelled = 0
        return pos

    # --- tokens ----------------------------------------------------------------

    def _string(self, text: str, pos: int, end: int) -> int:
        """Read a string (value or key) on from *pos*: to its closing quote, or to the end of *text*."""
        parts = self._parts
        while pos < end:
            if self._escape:
                pos = self._escaped(text, pos, end)
                continue
            run_end = _string_run(text, pos).end()
            if run_end > pos:
                if self._high:
                    self._flush_high()
                parts.append(text[pos:run_end])
                pos = run_end
                if pos == end:
                    break
            char = text[pos]
            if char == '"':
                if self._high:
                    self._flush_high()
                self._end_string("".join(parts))
                return pos + 1
            if char != "\\":
                raise self._unexpected(text, pos, "a control character escaped (JSON strings may not hold it raw)")
            self._escape = "\\"
            pos += 1
        if self._token == _STRING:
            self._dirty = True
        return pos

    def _escaped(self, text: str, pos: int, end: int) -> int:
        """Read on in a cut escape (``self._escape`` holds its start); the position after what was read."""
        escape = self._escape
        if escape == "\\":
            char = text[pos]
            if char == "u":
                self._escape = "\\u"
                return pos + 1
            decoded = _ESCAPES.get(char)
            if decoded is None:
                raise self._unexpected(text, pos, "an escape (one of \"\\/bfnrtu) after '\\'")
            if self._high:
                self._flush_high()
            self._parts.append(decoded)
            self._escape = ""
            return pos + 1
        chunk = text[pos : pos + 6 - len(escape)]
        hex_end = _hex_digits(chunk, 0).end()
        if hex_end < len(chunk):
            raise self._unexpected(text, pos + hex_end, "4 hexadecimal digits after '\\u'")
        escape += chunk
        pos += len(chunk)
        if len(escape) < 6:
            self._escape = escape
            return pos
        self._escape = ""
        code = int(escape[2:], 16)
        if self._high and 0xDC00 <= code <= 0xDFFF:
            self._parts.append(chr(0x10000 + ((self._high - 0xD800) << 10) + (code - 0xDC00)))
            self._high = 0
            return pos
        if self._high:
            self._flush_high()
        if 0xD800 <= code <= 0xDBFF:
            self._high = code
        else:
            self._parts.append(chr(code))
        return pos

    def _flush_high(self) -> None:
        """No low surrogate follows the waiting high one: it stays alone, as json.loads keeps it."""
        self._parts.append(chr(self._high))
        self._high = 0

    def _end_string(self, decoded: str) -> None:
        if self._token == _KEY:
            self._key = decoded
            self._state = _OBJECT_COLON
        else:
            self._place(decoded, replace=True)
            self._dirty = False
            self._after_value()
        self._token = _NO_TOKEN
        self._parts = []

    def _number_token(self, text: str, pos: int, end: int) -> int:
        """Read a number on from *pos*; it ends at the first character that cannot continue it."""
        start = pos
        state = self._number
        while pos < end:
            char = text[pos]
            if "0" <= char <= "9":
                if state == _N_ZERO:
                    raise self._unexpected(text, pos, "a delimiter after a leading 0 (JSON has no leading zeros)")
                if char == "0" and (state == _N_START or state == _N_MINUS):
                    state = _N_ZERO
                    pos += 1
                else:
                    state = _AFTER_DIGITS[state]
                    pos = _digits(text, pos + 1).end()
            elif char == "-" and state == _N_START:
                state = _N_MINUS
                pos += 1
            elif char == "." and (state == _N_ZERO or state == _N_INT):
                state = _N_DOT
                pos += 1
            elif (char == "e" or char == "E") and (state == _N_ZERO or state == _N_INT or state == _N_FRACTION):
                state = _N_E
                pos += 1
            elif (char == "+" or char == "-") and state == _N_E:
                state = _N_E_SIGN
                pos += 1
            elif char == "I" and state == _N_MINUS:
                self._token = _LITERAL
                self._word = "-Infinity"
                self._spelled = 1
                return pos
            elif state in _NUMBER_NEEDS:
                raise self._unexpected(text, pos, _NUMBER_NEEDS[state])
            else:
                self._end_number("".join(self._parts) + text[start:pos], state)
                return pos
        self._parts.append(text[start:pos])
        self._number = state
        return pos

    def _end_number(self, written: str, state: int) -> None:
        if state == _N_ZERO or state == _N_INT:
            try:
                number = int(written)  # type: Union[int, float]
            except ValueError:  # more digits than int() converts (sys.set_int_max_str_digits)
                raise self._error_at(
                    self._start, "an integer of %d digits, more than Python converts" % len(written.lstrip("-"))
                ) from None
        else:
            number = float(written)
        self._token = _NO_TOKEN
        self._parts = []
        self._place(number)
        self._after_value()

    def _literal(self, text: str, pos: int, end: int) -> int:
        """Read on in a literal (true, false, null, NaN, Infinity, -Infinity)."""
        word = self._word
        spelled = self._spelled
        take = min(len(word) - spelled, end - pos)
        if text[pos : pos + take] != word[spelled : spelled + take]:
            bad = next(i for i in range(take) if text[pos + i] != word[spelled + i])
            raise self._unexpected(text, pos + bad, "%r to go on as in %r" % (word[spelled + bad], word))
        spelled += take
        if spelled < len(word):
            self._spelled = spelled
        else:
            self._token = _NO_TOKEN
            self._place(_LITERALS[word])
            self._after_value()
        return pos + take


class PrefixReader:
    """One parser for the successive prefixes of one growing JSON text, such as a tool call's streamed arguments.

    ``value(prefix)`` gives what :func:`parse_partial_json` gives for
    *prefix*. Each prefix at least as long as the longest read so far is
    taken to extend it (the caller's promise: the text only grows), so only
    its new part is parsed and the result is a :meth:`PartialJSONParser.snapshot`:
    a call costs the new part and the copy of the containers still open,
    never the text before. A shorter prefix (an older snapshot read late) is
    parsed whole. Snapshots may be read from several threads: one reads at a time.
    """

    __slots__ = ("_parser", "_lock")

    def __init__(self) -> None:
        self._parser = PartialJSONParser()
        self._lock = threading.Lock()

    def value(self, prefix: str) -> Any:
        """What the JSON prefix *prefix* says so far (PartialJSONError if it can never be JSON)."""
        parser = self._parser
        with self._lock:
            consumed = parser.consumed
            if len(prefix) < consumed:
                return parse_partial_json(prefix)
            if len(prefix) > consumed:
                parser.feed(prefix[consumed:])
            value = parser.snapshot()
        if value is None and not parser.complete:  # a top-level number waits for a delimiter in the parser
            return parse_partial_json(prefix)
        return value


def parse_partial_json(text: str) -> Any:
    """The value the JSON prefix *text* describes so far (see the module docstring for the rules).

    A complete document gives exactly ``json.loads(text)``, which is tried
    first as the fast path: so a top-level number is taken as complete (``"12"``
    gives 12) while a :class:`PartialJSONParser` fed the same text waits for a
    delimiter. Other text goes through a parser in one feed (O(len(text))).
    Raises :class:`~ssekit.errors.PartialJSONError` if no continuation can
    make *text* JSON, TypeError if it is not a str.
    """
    if not isinstance(text, str):
        raise TypeError("parse_partial_json() takes str, not %s" % type(text).__name__)
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # cut, invalid, or nested deeper than json's recursion allows
        pass
    parser = PartialJSONParser()
    parser.feed(text)
    parser._end_of_text()
    return parser.value
