"""The connection-string grammar: .NET's ``DbConnectionOptions`` regex, which AppAuthentication copied, so
strings written for the .NET library read the same. Text in, ``Pair``s out (``tokenize``), values written back
the way .NET's builder writes them (``quote_value``); errors say where and why the text stops being
``Key=Value;...`` without quoting any of it. Which keys exist and what they mean: ``connection_string``.

* ``Key=Value`` settings separated by ``;``; whitespace around ``=`` and ``;``, empty segments and a
  trailing ``;`` are allowed.
* Keys are case-insensitive and may not start with whitespace or ``;``; ``==`` inside a key is a literal ``=``.
* A value is either unquoted (it cannot contain ``;`` or control characters, cannot start with a quote or
  end with one, and surrounding whitespace is dropped), or quoted with ``"..."`` (``""`` is a ``"``) or
  ``'...'`` (``''`` is a ``'``), keeping everything inside, including ``;`` and whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConnectionStringError

APP_KEY = "AppKey"  # the secret: from its first mention on, the text may be a piece of it (``taint_start``)
PREFIX = "Invalid connection string: "
ENVIRONMENT_VARIABLE = "AzureServicesAuthConnectionString"
QUOTE_SECRET_HINT = (
    " If that text is part of the AppKey secret (a secret containing ';'), put the whole AppKey value in"
    ' double quotes, e.g. AppKey="...", writing any " inside it as "".'
)

# .NET's DbConnectionOptions regex, one Key=Value pair at a time
_CC = r"\x00-\x1f\x7f-\x9f"  # .NET's \p{Cc}
_KEY = rf"(?:[^=\s{_CC}]|\s+[^=\s{_CC}]|\s+==|==)+"
_DOUBLE_QUOTED = r'"(?:[^"\x00]|"")*"'
_SINGLE_QUOTED = r"'(?:[^'\x00]|'')*'"
_UNQUOTED = rf"""(?!["'\s])(?:[^;\s{_CC}]|\s+[^;\s{_CC}])*(?<!["'])"""
_PAIR_END = r"\s*(?:;|[\x00\s]*\Z)"
_PAIR_RE = re.compile(
    rf"[\s;]*(?![\s;])(?P<key>{_KEY})\s*=(?!=)\s*"
    rf"(?P<value>{_DOUBLE_QUOTED}|{_SINGLE_QUOTED}|{_UNQUOTED}){_PAIR_END}"
)
_TAIL_RE = re.compile(r"[\s;]*[\x00\s]*\Z")
_KEY_EQUALS_RE = re.compile(rf"(?P<key>{_KEY})\s*=(?!=)\s*")
_QUOTED_RE = re.compile(rf"{_DOUBLE_QUOTED}|{_SINGLE_QUOTED}")
_PLAIN_VALUE_RE = re.compile(rf"""[^"'=;\s{_CC}]*""")  # values .NET writes without quotes
_NAME_LIKE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")  # unknown keys we may quote back
_APP_KEY_RE = re.compile("appkey", re.IGNORECASE)


@dataclass(frozen=True)
class Pair:
    """One ``Key=Value`` as written, with where its key and value sit in the text."""

    key: str
    value: str = field(repr=False)
    key_start: int
    key_end: int
    value_start: int
    value_end: int


def check_not_empty(text: str) -> None:
    if not text.strip():
        raise ConnectionStringError(
            PREFIX + "it is empty. Write the settings you want, e.g. RunAs=App for managed identity, or leave "
            "the connection string unset to let the provider try each way of getting a token in turn."
        )


def check_not_wrapped_in_quotes(text: str, setting: str) -> None:
    """A string starting with a quote is never valid (no key starts with one); the usual cause, in the
    environment variable, is Windows ``set VAR="RunAs=App"``, which keeps the quotes, so say that rather than
    report a syntax error. In a setting the quotes were written inside the string itself."""
    stripped = text.strip()
    quote = stripped[0]
    if quote not in "\"'":
        return
    where = "is wrapped in quotes" if len(stripped) > 1 and stripped[-1] == quote else "starts with a quote"
    if setting == ENVIRONMENT_VARIABLE:
        fix = (
            f'On Windows, `set {setting}="RunAs=App"` keeps the quotes as part of the value. Remove the surrounding '
            f"quotes (`set {setting}=RunAs=App`)"
        )
    else:
        fix = f'Remove the surrounding quotes from {setting} (write RunAs=App, not "RunAs=App")'
    raise ConnectionStringError(
        f'{PREFIX}it {where} ({quote}). {fix}; quotes belong only around a single value, as in AppKey="...".'
    )


def tokenize(text: str, known: Mapping[str, str]) -> list[Pair]:
    """Split the text into pairs exactly as .NET's regex does: pair after pair from the start, and the
    rest must be only separators."""
    pairs = []
    position = 0
    while (match := _PAIR_RE.match(text, position)) is not None:
        pairs.append(_pair_from(match))
        position = match.end()
    if _TAIL_RE.match(text, position) is None:
        raise _syntax_error(text, position, taint_start(text), known)
    return pairs


def _pair_from(match: re.Match[str]) -> Pair:
    return Pair(
        key=match["key"].replace("==", "="),
        value=_unquote(match["value"]),
        key_start=match.start("key"),
        key_end=match.end("key"),
        value_start=match.start("value"),
        value_end=match.end("value"),
    )


def _unquote(raw: str) -> str:
    if raw[:1] == '"':
        return raw[1:-1].replace('""', '"')
    if raw[:1] == "'":
        return raw[1:-1].replace("''", "'")
    return raw


def taint_start(text: str) -> int:
    """Where text stops being safe to quote back: from the first ``AppKey`` on, anything may be a piece of
    the secret (an unquoted secret containing ';' spills into what look like keys)."""
    match = _APP_KEY_RE.search(text)
    return match.start() if match else len(text)


def describe_key(raw: str, start: int, end: int, taint: int, known: Mapping[str, str]) -> tuple[str, str | None]:
    """How a message names a key, and the ``key`` for the error: a known key by its canonical name, an
    unknown one only if it looks like a name and comes before any ``AppKey``, else by position."""
    canonical = canonical_key(raw, known)
    if canonical is not None:
        return canonical, canonical
    if end <= taint and _NAME_LIKE_RE.fullmatch(raw):
        return f"'{raw}'", raw
    return f"the key at character {start + 1}", None


def _syntax_error(text: str, position: int, taint: int, known: Mapping[str, str]) -> ConnectionStringError:
    """Say where and why the text stops being ``Key=Value;...``, without quoting any of it."""
    start = _skip_separators(text, position)
    hint = QUOTE_SECRET_HINT if start > taint else ""
    head = _KEY_EQUALS_RE.match(text, start)
    if head is None:
        return ConnectionStringError(PREFIX + _missing_key_problem(text, start) + hint)
    name, key = describe_key(head["key"].replace("==", "="), head.start("key"), head.end("key"), taint, known)
    problem = _value_problem(text, head.end(), f"the value of {name}")
    return ConnectionStringError(PREFIX + problem + ("" if key == APP_KEY else hint), key=key)


def _missing_key_problem(text: str, start: int) -> str:
    end = text.find(";", start)
    segment = text[start : len(text) if end < 0 else end]
    if "=" not in segment:
        return (
            f"expected Key=Value at character {start + 1}, but there is no '=' before the next ';' or the end. "
            "Write each setting as Key=Value and separate settings with ';'."
        )
    if segment.startswith("="):
        return f"there is an '=' with no key before it at character {start + 1}. Write each setting as Key=Value."
    if "==" in segment:
        return (
            f"'==' at character {start + segment.index('==') + 1} means a literal '=' inside a key, so that "
            "setting has no '=' between key and value. Use a single '=' (and quote a value that starts with '=')."
        )
    return (
        f"the key at character {start + 1} is not valid: keys cannot contain control characters. "
        "Write each setting as Key=Value and separate settings with ';'."
    )


def _value_problem(text: str, start: int, what: str) -> str:
    """Why the value starting at ``start`` cannot be read."""
    first = text[start : start + 1]
    if first in ("'", '"'):
        quoted = _QUOTED_RE.match(text, start)
        if quoted is None:
            return (
                f"{what} opens a {first} quote at character {start + 1} that is never closed. Close it, and write "
                f"a {first} inside the value as {first}{first}."
            )
        return (
            f"{what} is quoted, but more text follows its closing quote (character {quoted.end()}) before the "
            f"next ';'. Quote the whole value, writing a {first} inside it as {first}{first}, and end it with ';'."
        )
    end = start
    while end < len(text) and text[end] != ";" and not _is_control(text[end]):
        end += 1
    if end < len(text) and text[end] != ";":
        return (
            f"{what} contains a control character at character {end + 1}. Remove it, or put the value in "
            "quotes (NUL is never allowed)."
        )
    if text[start:end].rstrip()[-1:] in ("'", '"'):
        return (
            f"{what} ends with a quote but does not start with one. Either remove the quote, or quote the whole "
            'value (e.g. Key="..."), writing a quote of the same kind inside it twice.'
        )
    return f'{what} at character {start + 1} cannot be read. Put it in double quotes, writing any " inside as "".'


def _skip_separators(text: str, position: int) -> int:
    while position < len(text) and (text[position] == ";" or text[position].isspace()):
        position += 1
    return position


def _is_control(char: str) -> bool:
    return not char.isspace() and (char <= "\x1f" or "\x7f" <= char <= "\x9f")


def quote_value(value: str) -> str:
    """Quote a value the way .NET's connection-string builder does: bare if nothing in it needs quoting,
    else in single quotes if it holds a " but no ', else in double quotes with " doubled."""
    if _PLAIN_VALUE_RE.fullmatch(value):
        return value
    if '"' in value and "'" not in value:
        return f"'{value}'"
    return '"' + value.replace('"', '""') + '"'


def canonical_key(raw: str, known: Mapping[str, str]) -> str | None:
    """The key's canonical spelling (``known``: lower case -> canonical), compared ignoring ASCII case as .NET's
    OrdinalIgnoreCase does."""
    return known.get(raw.lower()) if raw.isascii() else None
