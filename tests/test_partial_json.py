"""Partial JSON: hand cases for each rule, and a differential test against ``json.loads``.

The differential test draws random JSON texts (random nesting, whitespace,
unicode raw and escaped, surrogate pairs and lone surrogates, numbers of every
form, NaN / Infinity) and checks, for each:

* every prefix, read one-shot, gives a *prefix-consistent* view of the final
  value (:func:`consistent`): containers hold the leading members of the final
  ones, strings are prefixes of the final strings, nothing else appears;
* the text fed in random fragments gives, after each fragment, what one-shot
  gives for that prefix, its containers the same live objects all along;
* the whole text gives exactly (types, key order, NaN, -0.0) what json.loads gives.

Random corruptions of those texts that json.loads refuses are judged by an
oracle independent of the parser (:func:`completion`: a text is a JSON prefix
iff one of a few finishers plus the closing brackets makes json.loads accept
it): the parser must raise PartialJSONError exactly when no completion exists,
at the position where the text stops being a prefix. The seeded generator
always runs (``DOCUMENTS`` texts, ``CORRUPTIONS`` corruptions); the same
properties run under hypothesis when it is installed.
"""
import json
import random
import sys
import unittest
from typing import Any, Iterator, List, Optional

from ssekit.errors import PartialJSONError, SSEKitError
from ssekit.partial_json import PartialJSONParser, parse_partial_json

from .sizes import scaled

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_HYPOTHESIS = False

#: Random documents drawn by the seeded generator (each checked at every prefix).
DOCUMENTS = scaled(2000)
#: Random corruptions checked against the completion oracle.
CORRUPTIONS = scaled(2500)
#: Examples hypothesis draws per property.
HYPOTHESIS_EXAMPLES = scaled(100)
#: The longest random document drawn (characters).
MAX_DOCUMENT = 400
DEEP = max(5000, scaled(100000))  # (far past any recursion limit at every size)

# --- comparing values ---------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Exactly equal: same types, same key order, floats equal by repr (NaN equals NaN, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def consistent(partial: Any, final: Any) -> bool:
    """*partial* is what a prefix of the text of *final* may show: its leading part, nothing else.

    An object shows the first members of the final one in order, each equal to
    the final member but the last, which is itself consistent; an array the
    same with its first items; a string is a prefix of the final string; any
    other value is exactly the final one.
    """
    if type(partial) is not type(final):
        return False
    if isinstance(partial, dict):
        keys = list(partial)
        if keys != list(final)[: len(keys)]:
            return False
        return all(same(partial[k], final[k]) for k in keys[:-1]) and (
            not keys or consistent(partial[keys[-1]], final[keys[-1]])
        )
    if isinstance(partial, list):
        if len(partial) > len(final):
            return False
        return all(same(x, y) for x, y in zip(partial[:-1], final)) and (
            not partial or consistent(partial[-1], final[len(partial) - 1])
        )
    if isinstance(partial, str):
        return final.startswith(partial)
    return same(partial, final)


def consistent_top(partial: Any, final: Any) -> bool:
    """At the top, None also stands for "nothing shown yet"."""
    return partial is None or consistent(partial, final)


def has_duplicate_keys(document: str) -> bool:
    found = []  # type: List[bool]

    def pairs(items: List[Any]) -> dict:
        found.append(len({key for key, _ in items}) < len(items))
        return dict(items)

    json.loads(document, object_pairs_hook=pairs)
    return any(found)


# --- the oracle: can this text still become JSON? -----------------------------

_LITERAL_TAILS = sorted(
    {word[k:] for word in ("true", "false", "null", "NaN", "Infinity", "-Infinity") for k in range(1, len(word))}
)
#: What may finish the token a prefix is cut in, and give the value a key or a "," still needs.
FINISHERS = ["", "0", ":0", '"":0'] + [
    escape + '"' + tail for escape in ("", "n", "0", "00", "000", "0000") for tail in ("", ":0")
] + _LITERAL_TAILS


def closing_brackets(text: str) -> str:
    """The brackets that close what *text* left open (outside strings), innermost first."""
    stack = []  # type: List[str]
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append("]" if char == "[" else "}")
        elif char in "]}" and stack:
            stack.pop()
    return "".join(reversed(stack))


def completion(text: str) -> Optional[str]:
    """A JSON document that starts with *text*, or None if there is none.

    Every JSON prefix is cut between tokens or inside a string, an escape, a
    number or a literal, maybe with a key or a "," waiting for what follows: a
    finisher completes each of those, and the brackets left open then close the
    document. So json.loads accepting one candidate proves *text* a prefix, and
    refusing all proves it is not.
    """
    for finisher in FINISHERS:
        candidate = text + finisher
        candidate += closing_brackets(candidate)
        try:
            json.loads(candidate)
        except ValueError:
            continue
        return candidate
    return None


# --- random documents ---------------------------------------------------------

_PLAIN = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 !#$%&'()*+,-.:;<=>?@[]^_`{|}~"
_RAW = ["é", "ß", "中", "文", "😀", "🎉", "\u2028", "\x7f", "\u0080", "\ufeff", "\ud800", "\udfff"]
_SIMPLE_ESCAPES = ['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"]
_WHITESPACE = ["", "", "", " ", "\n", "\t", "  ", "\r\n  "]


def _unicode_escape(rng: random.Random, code: int) -> str:
    text = "\\u%04x" % code
    return text.upper().replace("\\U", "\\u") if rng.random() < 0.3 else text


def random_string(rng: random.Random) -> str:
    """A JSON string literal: plain runs, raw unicode, every escape, surrogate pairs and lone halves."""
    pieces = ['"']
    for _ in range(rng.choice([0, 1, 2, 3, 5, 8])):
        kind = rng.random()
        if kind < 0.4:
            pieces.append("".join(rng.choice(_PLAIN) for _ in range(rng.randint(1, 8))))
        elif kind < 0.55:
            pieces.append(rng.choice(_RAW))
        elif kind < 0.7:
            pieces.append(rng.choice(_SIMPLE_ESCAPES))
        elif kind < 0.8:
            code = rng.choice([0, 0x1F, 0x22, 0x5C, 0xE9, 0x4E2D, 0xFFFF, rng.randint(0, 0xFFFF)])
            pieces.append(_unicode_escape(rng, code))
        elif kind < 0.9:  # a surrogate pair
            high, low = rng.randint(0xD800, 0xDBFF), rng.randint(0xDC00, 0xDFFF)
            pieces.append(_unicode_escape(rng, high) + _unicode_escape(rng, low))
        else:  # lone halves, and a high one before another high one
            pieces.append(_unicode_escape(rng, rng.choice([0xD83D, 0xDE00, rng.randint(0xD800, 0xDFFF)])))
    pieces.append('"')
    return "".join(pieces)


def random_number(rng: random.Random) -> str:
    """A JSON number of any form: sign, zero, long digit runs, fraction, exponent (e/E, sign, huge)."""
    digits = "0123456789"
    text = "-" if rng.random() < 0.4 else ""
    if rng.random() < 0.3:
        text += "0"
    else:
        length = rng.choice([0, 0, 1, 3, 10, 25, 400])
        text += rng.choice("123456789") + "".join(rng.choice(digits) for _ in range(length))
    if rng.random() < 0.4:
        text += "." + "".join(rng.choice(digits) for _ in range(rng.choice([1, 1, 2, 5, 17, 30])))
    if rng.random() < 0.3:
        exponent = "".join(rng.choice(digits) for _ in range(rng.randint(1, 4)))
        text += rng.choice("eE") + rng.choice(["", "+", "-"]) + exponent
    return text


def random_value(rng: random.Random, depth: int) -> str:
    kind = rng.random()
    gap = lambda: rng.choice(_WHITESPACE)  # noqa: E731 - a one-line helper
    if depth > 0 and kind < 0.3:
        members = [
            gap() + random_string(rng) + gap() + ":" + gap() + random_value(rng, depth - 1) + gap()
            for _ in range(rng.choice([0, 1, 2, 3, 4]))
        ]
        return "{" + (",".join(members) or gap()) + "}"
    if depth > 0 and kind < 0.55:
        items = [gap() + random_value(rng, depth - 1) + gap() for _ in range(rng.choice([0, 1, 2, 3, 5]))]
        return "[" + (",".join(items) or gap()) + "]"
    if kind < 0.75:
        return random_string(rng)
    if kind < 0.92:
        return random_number(rng)
    return rng.choice(["true", "false", "null", "NaN", "Infinity", "-Infinity"])


def random_document(rng: random.Random) -> str:
    """A JSON text json.loads accepts, with no duplicate keys (which would break prefix consistency).

    At most ``MAX_DOCUMENT`` characters: every prefix is parsed one-shot, so a
    document costs the square of its length.
    """
    while True:
        document = rng.choice(_WHITESPACE) + random_value(rng, rng.choice([0, 1, 2, 3, 4, 5])) + rng.choice(_WHITESPACE)
        if len(document) <= MAX_DOCUMENT and not has_duplicate_keys(document):
            return document


def random_fragments(text: str, rng: random.Random) -> List[str]:
    """*text* cut at random places (sometimes one character at a time)."""
    if rng.random() < 0.2:
        return list(text)
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 12)))) if len(text) > 1 else []
    return [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]


def corrupt(text: str, rng: random.Random) -> str:
    """*text* with one random edit: a character deleted, inserted, replaced, or a span repeated."""
    alphabet = '{}[]:,"\\ 0123456789-+.eEtrufalsnNIiy\x01\ud83d'
    where = rng.randint(0, len(text))
    edit = rng.random()
    if edit < 0.3 and where < len(text):
        return text[:where] + text[where + 1 :]
    if edit < 0.6:
        return text[:where] + rng.choice(alphabet) + text[where:]
    if edit < 0.85 and where < len(text):
        return text[:where] + rng.choice(alphabet) + text[where + 1 :]
    span = text[where : where + rng.randint(1, 6)]
    return text[:where] + span + text[where:]


# --- checks shared by the seeded and the hypothesis tests -----------------------


def check_document(test: unittest.TestCase, document: str, rng: random.Random) -> None:
    """Every property of the module docstring, for one valid *document*."""
    final = json.loads(document)
    shown = []  # type: List[Any]
    for end in range(len(document) + 1):
        partial = parse_partial_json(document[:end])
        shown.append(partial)
        if type(partial) in (int, float) and type(final) in (int, float):
            continue  # a top-level number is whole to json.loads, so is taken as it stands ("0" of "0.9")
        if not consistent_top(partial, final):
            test.fail("prefix %r of %r gives %r, not a view of %r" % (document[:end], document, partial, final))
    test.assertTrue(same(shown[-1], final), document)

    parser = PartialJSONParser()
    fed = 0
    live = None  # type: Any
    for fragment in random_fragments(document, rng):
        parser.feed(fragment)
        fed += len(fragment)
        test.assertEqual(parser.consumed, fed)
        if rng.random() < 0.3:
            continue  # not reading value after some fragments exercises the lazy update
        value = parser.value
        if isinstance(value, (dict, list)):
            if live is not None:
                test.assertIs(value, live, "the top-level container must stay the same object")
            live = value
        one_shot = shown[fed]
        if value is None and not parser.complete and type(one_shot) in (int, float):
            continue  # a top-level number: the parser waits for a delimiter, one-shot takes the text as whole
        if not same(value, one_shot):
            test.fail("%r fed as fragments gives %r at %d, one-shot %r" % (document, value, fed, one_shot))
    parser.feed(" ")  # a top-level number is complete once a delimiter follows
    test.assertTrue(parser.complete, document)
    test.assertTrue(same(parser.value, final), "%r: parser %r, json.loads %r" % (document, parser.value, final))


def check_any_text(test: unittest.TestCase, text: str, rng: random.Random) -> None:
    """For any *text*: a PartialJSONError exactly when no completion exists, else a consistent view."""
    try:
        json.loads(text)
    except ValueError:
        pass
    else:
        check_document(test, text, rng)
        return
    finished = completion(text)
    if finished is not None:
        partial = parse_partial_json(text)
        if not has_duplicate_keys(finished) and not consistent_top(partial, json.loads(finished)):
            test.fail("%r gives %r, not a view of its completion %r" % (text, partial, finished))
        return
    with test.assertRaises(PartialJSONError, msg=repr(text)) as caught:
        parse_partial_json(text)
    position = caught.exception.position
    test.assertIsNotNone(completion(text[:position]), "%r: the text before position %d is a prefix" % (text, position))
    test.assertIsNone(completion(text[: position + 1]), "%r: the character at %d is the offender" % (text, position))
    parser = PartialJSONParser()
    with test.assertRaises(PartialJSONError) as fed:
        for fragment in random_fragments(text, rng):
            parser.feed(fragment)
    test.assertEqual(fed.exception.position, position, text)
    test.assertEqual(str(fed.exception), str(caught.exception))


# --- hand cases -----------------------------------------------------------------


class Prefixes(unittest.TestCase):
    CASES = [
        ("", None),
        ("  \n\t\r ", None),
        ("{", {}),
        ("[", []),
        ('{"a": [1, {', {"a": [1, {}]}),
        ('{"a": "Par', {"a": "Par"}),
        ('{"a": "', {"a": ""}),
        ('{"a": [', {"a": []}),
        ('{"a": {"b": [[', {"a": {"b": [[]]}}),
        ('"Par', "Par"),
        ('"', ""),
        # a cut escape is left out until complete
        ('"ab\\', "ab"),
        ('"ab\\u', "ab"),
        ('"ab\\u00', "ab"),
        ('"ab\\u00e', "ab"),
        ('"ab\\u00e9', "abé"),
        ('"ab\\n', "ab\n"),
        # a high surrogate waits for what follows it
        ('"\\ud83d', ""),
        ('"\\ud83d\\', ""),
        ('"\\ud83d\\ude0', ""),
        ('"\\ud83d\\ude00', "\U0001f600"),
        ('"\\ud83dx', "\ud83dx"),
        ('"\\ud83d\\n', "\ud83d\n"),
        ('"\\ud83d\\ud83d', "\ud83d"),
        ('"\\ud83d\\ud83d\\ude00', "\ud83d\U0001f600"),
        ('"\\ude00', "\ude00"),
        # a cut number is left out until a delimiter
        ("[1", []),
        ("[1, 2", [1]),
        ("[1, 2 ", [1, 2]),
        ("[-", []),
        ("[0", []),
        ("[1.", []),
        ("[1.5", []),
        ("[1e", []),
        ("[1e+", []),
        ("[1E-5", []),
        ("[1E-5]", [1e-05]),
        ('{"a": 12', {}),
        ('{"a": 12,', {"a": 12}),
        ('{"a": 12}', {"a": 12}),
        # a literal appears once fully spelled
        ("[t", []),
        ("[tru", []),
        ("[true", [True]),
        ("[fals", []),
        ("[false", [False]),
        ('{"a": nul', {}),
        ('{"a": null', {"a": None}),
        ("[-Inf", []),
        ("[-Infinity", [float("-inf")]),
        ("[Infinity", [float("inf")]),
        ("[Na", []),
        ("[NaN", [float("nan")]),
        # keys without values, and cut keys, are left out
        ('{"a', {}),
        ('{"a"', {}),
        ('{"a":', {}),
        ('{"a": 1, "b', {"a": 1}),
        ('{"a": 1, ', {"a": 1}),
        ('{"a\\', {}),
        # top level
        ("tru", None),
        ("true", True),
        ("-", None),
        ("12", 12),  # json.loads accepts it: a complete document
        ("12 ", 12),
        ("-0", 0),
        ("-0.0", -0.0),
        ("1e400", float("inf")),
        ("[1e-400]", [0.0]),
        ("[]", []),
        ("{}", {}),
        ('"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\/\b\f\n\r\t'),
        ('"\x7f\u2028\ud800"', "\x7f\u2028\ud800"),
        # duplicate keys: the last value wins, at the first position
        ('{"a": 1, "b": 2, "a": 3}', {"a": 3, "b": 2}),
        ('{"a": 1, "b": 2, "a": ', {"a": 1, "b": 2}),
        ('{"a": 1, "b": 2, "a": "x', {"a": "x", "b": 2}),
        ('{"a": 1, "b": 2, "a": [', {"a": [], "b": 2}),
    ]

    def test_each_rule(self) -> None:
        for text, expected in self.CASES:
            with self.subTest(text=text):
                got = parse_partial_json(text)
                self.assertTrue(same(got, expected), "%r gave %r, expected %r" % (text, got, expected))

    def test_the_parser_gives_the_same_fed_in_one_piece_and_one_character_at_a_time(self) -> None:
        for text, expected in self.CASES:
            for fragments in ([text], list(text)):
                parser = PartialJSONParser()
                for fragment in fragments:
                    parser.feed(fragment)
                if type(expected) in (int, float) and not parser.complete:
                    self.assertIsNone(parser.value, text)  # a top-level number waits for a delimiter
                    parser.feed(" ")
                with self.subTest(text=text, fragments=len(fragments)):
                    self.assertTrue(same(parser.value, expected), "%r gave %r" % (text, parser.value))

    def test_complete_documents_give_exactly_what_json_loads_gives(self) -> None:
        texts = [
            '{"a": [1, 2.5, -0.0, 1E3, "x", null, true, false, NaN, -Infinity]}',
            '"\\ud83d\\ude00"',
            " 0 ",
            "[1e400]",
        ]
        for text in texts:
            parser = PartialJSONParser()
            parser.feed(text)
            self.assertTrue(parser.complete)
            self.assertTrue(same(parser.value, json.loads(text)), text)
            self.assertTrue(same(parse_partial_json(text), json.loads(text)), text)


class Invalid(unittest.TestCase):
    CASES = [
        ("x", 0),
        ("]", 0),
        ("{]", 1),
        ("[}", 1),
        ("[1}", 2),
        ("[1,]", 3),
        ('{"a": 1,}', 8),
        ("{,", 1),
        ('{"a" 1', 5),
        ('{"a": 1 "b"', 8),
        ("{1: 2}", 1),
        ("{'a': 1}", 1),
        ("[01", 2),
        ("[-01", 3),
        ("00", 1),
        ("[1.]", 3),
        ("[.5", 1),
        ("[1.e5", 3),
        ("[1e]", 3),
        ("[1e+]", 4),
        ("[+1", 1),
        ("[--1", 2),
        ("[-a", 2),
        ("[-NaN", 2),
        ("[1.5.", 4),
        ("[1e5.", 4),
        ("[1 2", 3),
        ("[truex", 5),
        ("[tx", 2),
        ("[nan", 2),
        ("[infinity", 1),
        ('"a\x01', 2),
        ('"a\n"', 2),
        ('"\\x', 2),
        ('"\\u12g4"', 5),
        ('"\\U0041"', 2),
        ("[1]]", 3),
        ("1 2", 2),
        ('"a" "b"', 4),
        ("\ufeff[]", 0),
        ("\u00a0[]", 0),
        ("[\u0661]", 1),
    ]

    def test_text_that_can_never_be_json_raises_with_the_position(self) -> None:
        for text, position in self.CASES:
            with self.subTest(text=text):
                with self.assertRaises(PartialJSONError) as caught:
                    parse_partial_json(text)
                self.assertEqual(caught.exception.position, position)
                self.assertIn("position %d" % position, str(caught.exception))
                with self.assertRaises(ValueError):
                    json.loads(text)

    def test_the_error_is_an_ssekit_error_and_a_value_error_with_a_clear_message(self) -> None:
        with self.assertRaises(PartialJSONError) as caught:
            parse_partial_json('{"a": 1 "b"')
        self.assertIsInstance(caught.exception, SSEKitError)
        self.assertIsInstance(caught.exception, ValueError)
        self.assertEqual(
            str(caught.exception), "not JSON at position 8: expected ',' or '}' after an object member, found '\"'"
        )

    def test_an_integer_longer_than_int_converts_is_refused_like_json_loads_refuses_it(self) -> None:
        if not hasattr(sys, "set_int_max_str_digits"):
            self.skipTest("this interpreter converts integers of any length")
        digits = "1" * 5000
        for text, position in ((digits, 0), ("[" + digits + "]", 1), ('{"a": -' + digits + "}", 6)):
            with self.subTest(text=text[:10]):
                self.assertRaises(ValueError, json.loads, text)
                with self.assertRaises(PartialJSONError) as caught:
                    parse_partial_json(text)
                self.assertEqual(caught.exception.position, position)
        self.assertEqual(parse_partial_json("[" + digits), [])  # cut: it may yet become a float
        self.assertEqual(parse_partial_json("[" + digits + ".5]"), [float(digits + ".5")])

    def test_control_characters_are_escaped_in_the_message(self) -> None:
        with self.assertRaises(PartialJSONError) as caught:
            parse_partial_json('"a\x1b[31m')
        self.assertNotIn("\x1b", str(caught.exception))


class Parser(unittest.TestCase):
    def test_value_is_the_same_live_object_updated_in_place(self) -> None:
        parser = PartialJSONParser()
        self.assertIsNone(parser.value)
        parser.feed('{"city": "Par')
        value = parser.value
        self.assertEqual(value, {"city": "Par"})
        parser.feed('is", "days": [1, ')
        self.assertIs(parser.value, value)
        self.assertEqual(value, {"city": "Paris", "days": [1]})
        days = value["days"]
        parser.feed("2]}")
        self.assertIs(parser.value["days"], days)
        self.assertEqual(value, {"city": "Paris", "days": [1, 2]})
        self.assertTrue(parser.complete)

    def test_consumed_and_complete(self) -> None:
        parser = PartialJSONParser()
        self.assertEqual((parser.consumed, parser.complete), (0, False))
        parser.feed("[1, ")
        parser.feed("")
        parser.feed("2]")
        self.assertEqual((parser.consumed, parser.complete), (6, True))
        parser.feed(" \n")
        self.assertEqual((parser.consumed, parser.complete, parser.value), (8, True, [1, 2]))

    def test_a_top_level_number_is_complete_only_after_a_delimiter(self) -> None:
        parser = PartialJSONParser()
        parser.feed("12")
        self.assertEqual((parser.value, parser.complete), (None, False))
        parser.feed("3")
        parser.feed("\n")
        self.assertEqual((parser.value, parser.complete), (123, True))

    def test_an_error_is_sticky_and_the_value_keeps_what_came_before(self) -> None:
        parser = PartialJSONParser()
        parser.feed('{"a": [1')
        with self.assertRaises(PartialJSONError) as first:
            parser.feed(", 2, x]")
        self.assertEqual(first.exception.position, 13)
        self.assertEqual(parser.value, {"a": [1, 2]})
        self.assertEqual(parser.consumed, 8)
        with self.assertRaises(PartialJSONError) as again:
            parser.feed("]}")
        self.assertIs(again.exception, first.exception)

    def test_a_fragment_that_is_not_str_is_a_type_error(self) -> None:
        self.assertRaises(TypeError, PartialJSONParser().feed, b"[1]")
        self.assertRaises(TypeError, parse_partial_json, b"[1]")

    def test_a_long_string_in_many_fragments(self) -> None:
        parser = PartialJSONParser()
        parser.feed('{"text": "')
        for number in range(2000):
            parser.feed("ab\\u00e9\\n"[number % 5 :] if number % 7 == 0 else "abcde")
            self.assertTrue(parser.value["text"].startswith("ab"))
        parser.feed('"}')
        self.assertEqual(parser.value, json.loads('{"text": "' + "".join(
            "ab\\u00e9\\n"[n % 5 :] if n % 7 == 0 else "abcde" for n in range(2000)) + '"}'))


def depth_of(value: Any) -> Iterator[Any]:
    """The chain of values nested in *value* by first member (iteratively: no recursion)."""
    while isinstance(value, (dict, list)) and value:
        yield value
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    yield value


class DeepNesting(unittest.TestCase):
    def test_a_hundred_thousand_levels(self) -> None:  # (a third of it where CI runs the lighter sizes)
        arrays = "[" * DEEP + '"bottom"' + "]" * DEEP
        objects = '{"k":' * DEEP + "1" + "}" * DEEP
        mixed = '[{"k":' * (DEEP // 2) + "null" + "}]" * (DEEP // 2)
        for text, bottom in ((arrays, "bottom"), (objects, 1), (mixed, None)):
            with self.subTest(text=text[:6]):
                chain = list(depth_of(parse_partial_json(text)))
                self.assertEqual((len(chain), chain[-1]), (DEEP + 1, bottom))
                cut = parse_partial_json(text[: len(text) - DEEP // 2])  # into the closing brackets
                self.assertEqual(len(list(depth_of(cut))), DEEP + 1)
                parser = PartialJSONParser()
                for start in range(0, len(text), 997):
                    parser.feed(text[start : start + 997])
                    parser.value
                self.assertTrue(parser.complete)
                self.assertEqual(list(depth_of(parser.value))[-1], bottom)
        cut = parse_partial_json("[" * DEEP + '"bott')
        self.assertEqual(list(depth_of(cut))[-1], "bott")
        with self.assertRaises(PartialJSONError) as caught:
            parse_partial_json("[" * DEEP + "}")
        self.assertEqual(caught.exception.position, DEEP)


class Differential(unittest.TestCase):
    def test_random_documents_at_every_prefix_and_in_random_fragments(self) -> None:
        rng = random.Random(20240517)
        for _ in range(DOCUMENTS):
            check_document(self, random_document(rng), rng)

    def test_random_corruptions_raise_exactly_when_they_cannot_be_completed(self) -> None:
        rng = random.Random(1717)
        raised = 0
        for _ in range(CORRUPTIONS):
            text = corrupt(random_document(rng), rng)
            if completion(text) is None:
                raised += 1
            check_any_text(self, text, rng)
        self.assertGreater(raised, CORRUPTIONS // 4)  # the corruptions do make invalid text


class Hypothesis(unittest.TestCase):
    def test_hypothesis_properties(self) -> None:
        if not HAVE_HYPOTHESIS:
            reason = "hypothesis is not installed: the seeded differential tests ran instead"
            print("\n[skipped] %s.%s: %s" % (type(self).__name__, self._testMethodName, reason), file=sys.stderr)
            self.skipTest(reason)
        run_hypothesis(self)


def run_hypothesis(test: unittest.TestCase) -> None:
    """The differential properties on hypothesis's values and texts (only called when it is installed)."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5),
        max_leaves=20,
    )
    check_settings = settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

    @check_settings
    @given(json_values, st.booleans(), st.sampled_from([None, 0, 2]), st.randoms(use_true_random=False))
    def documents(value: Any, ascii_only: bool, indent: Optional[int], rng: random.Random) -> None:
        check_document(test, json.dumps(value, ensure_ascii=ascii_only, indent=indent), rng)

    alphabet = '{}[]:,"\\ 0123456789-+.eEtrufalsnNI\x01\ud83d\ude00'

    @check_settings
    @given(st.text(alphabet=alphabet, max_size=30), st.randoms(use_true_random=False))
    def texts(text: str, rng: random.Random) -> None:
        check_any_text(test, text, rng)

    documents()
    texts()


if __name__ == "__main__":
    unittest.main()


class Snapshots(unittest.TestCase):
    """``PartialJSONParser.snapshot()``: a value later fragments leave alone, equal to the value then, any depth."""

    def test_a_snapshot_keeps_what_it_said(self) -> None:
        document = '{"a": [1, {"b": "cd"}, [true]], "e": {"f": null}, "g": "long string"}'
        parser = PartialJSONParser()
        kept = []
        for end in range(0, len(document), 3):
            parser.feed(document[end : end + 3])
            kept.append((end + 3, parser.snapshot()))
        for end, snapshot in kept:
            self.assertEqual(snapshot, parse_partial_json(document[:end]) if end < len(document) else json.loads(document))
        self.assertIs(kept[-1][1], parser.value)  # complete: nothing will change it, so it is shared
        self.assertIsNot(kept[-2][1], parser.value)  # (still open: copied)

    def test_any_depth(self) -> None:
        parser = PartialJSONParser()
        parser.feed("[" * 5000 + '{"x": ' * 2000)
        snapshot = parser.snapshot()
        depth = 0
        while isinstance(snapshot, (list, dict)) and snapshot:
            snapshot = snapshot[0] if isinstance(snapshot, list) else snapshot["x"]
            depth += 1
        self.assertEqual(depth, 5000 + 1999)  # (the innermost object has no member yet)
