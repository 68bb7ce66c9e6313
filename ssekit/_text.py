"""What ssekit may quote in a message, a log line or a repr (internal; standard library only).

Two rules hold for every text ssekit emits: the secrets a request carried are
replaced by ``[redacted]`` (:class:`Secrets`), and text that came from the
server has its control characters escaped (:func:`printable`), so a hostile
server can neither read a key back out of an error nor write escape sequences
to a terminal or split a one-line message.
"""
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit, urlunsplit

REDACTED = "[redacted]"

#: Header values shorter than this are not treated as secrets (replacing them would mangle text).
_MIN_SECRET = 4
#: Parts of a header value (``Bearer KEY``, ``Basic ...``) at least this long are secrets on their own.
_MIN_SECRET_PART = 8
#: Query parameters whose values are treated as secrets (``?key=...`` as some APIs take keys).
SECRET_PARAM = re.compile(r"key|token|secret|sig|auth|password", re.I)
#: Headers that carry credentials across many APIs, whatever the format (each format module adds the one it sends).
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key")

# C0 and C1 controls, DEL, and the Unicode controls that reorder or hide text on a terminal.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape(match: "re.Match[str]") -> str:
    char = match.group(0)
    return repr(char)[1:-1] if char not in "\\'" else char


def printable(text: str, limit: Optional[int] = None) -> str:
    """*text* on one line with every control character escaped (``\\x1b``, ``\\n``), cut to *limit*."""
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return _UNPRINTABLE.sub(_escape, text)


def preview(text: str, limit: int = 80) -> str:
    """*text* quoted for an error message (``repr`` escapes controls), cut to *limit* characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def redact_url(url: str) -> str:
    """Drop the query string and any user:password from *url* (keys hide there); never raises."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if ":" in netloc:  # an IPv6 literal
            netloc = "[%s]" % netloc
        port = parts.port
    except ValueError:  # a malformed port or IPv6 literal: say no more than the scheme
        return "%s://<malformed URL>" % (url.split(":", 1)[0] if "://" in url else "?")
    if port:
        netloc = "%s:%d" % (netloc, port)
    query = "..." if parts.query else ""
    return printable(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


class Secrets:
    """The secret values one request carries; :meth:`redact` replaces them in any text.

    Built from every place a key can sit: the request's and the session's
    credential headers, the URL's password and key-like query values, and
    ``auth=``. Immutable; ``repr`` never shows a value.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[str] = ()) -> None:
        found = set()
        for value in values:
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if not isinstance(value, str) or len(value.strip()) < _MIN_SECRET:
                continue
            found.add(value.strip())
            found.update(part for part in value.split() if len(part) >= _MIN_SECRET_PART)
        self._values = tuple(sorted(found, key=len, reverse=True))  # type: Tuple[str, ...]

    @classmethod
    def of_request(
        cls,
        *header_maps: Optional[Mapping[str, Any]],
        url: str = "",
        auth: Any = None,
        key_headers: Iterable[str] = (),
    ) -> "Secrets":
        """The secrets of a request: credential headers in *header_maps*, the URL, a ``(user, password)`` *auth*."""
        names = set(CREDENTIAL_HEADERS) | {name.lower() for name in key_headers}
        values = []  # type: List[str]
        for headers in header_maps:
            for name, value in (headers or {}).items():
                if isinstance(name, (str, bytes)) and _lower(name) in names:
                    values.append(value)
        try:
            parts = urlsplit(url)
            values.extend(value for name, value in parse_qsl(parts.query) if SECRET_PARAM.search(name))
            if parts.password:
                values.append(parts.password)
        except ValueError:
            pass
        if isinstance(auth, tuple):
            values.extend(str(part) for part in auth[1:])
        return cls(values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return "<Secrets: %d value(s)>" % len(self._values)

    def __add__(self, other: "Secrets") -> "Secrets":
        return Secrets(self._values + other._values)

    def redact(self, text: str) -> str:
        """*text* with every secret replaced by ``[redacted]``."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def find(self, text: str) -> List[Tuple[int, int]]:
        """Where the secrets occur in *text*: ``(start, end)`` spans, earliest first, none overlapping."""
        spans = []  # type: List[Tuple[int, int]]
        for value in self._values:  # longest first: a short secret inside a long one is already covered
            start = text.find(value)
            while start >= 0:
                end = start + len(value)
                if not any(begin < end and start < stop for begin, stop in spans):
                    spans.append((start, end))
                start = text.find(value, start + 1)
        return sorted(spans)

    def redact_value(self, value: Any) -> Any:
        """A copy of decoded JSON *value* with the secrets replaced in every string (iterative: any depth)."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if not isinstance(value, (dict, list)):
            return value
        root = [value]  # type: List[Any]
        stack = [(root, 0)]  # type: List[Tuple[Any, Any]]
        while stack:
            container, key = stack.pop()
            item = container[key]
            if isinstance(item, str):
                container[key] = self.redact(item)
            elif isinstance(item, dict):
                copy = {}  # type: Dict[Any, Any]
                for name, member in item.items():
                    copy[self.redact(name) if isinstance(name, str) else name] = member
                container[key] = copy
                stack.extend((copy, name) for name in copy)
            elif isinstance(item, list):
                container[key] = copy_list = list(item)
                stack.extend((copy_list, index) for index in range(len(copy_list)))
        return root[0]


def _lower(name: Any) -> str:
    return (name.decode("latin-1") if isinstance(name, bytes) else name).lower()


#: No secrets: the default where a caller knows of none.
NO_SECRETS = Secrets()
