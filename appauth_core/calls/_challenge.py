"""Reading a 401's ``WWW-Authenticate`` header (RFC 7235 section 4.1) for a claims challenge.

A resource that evaluates access continuously (CAE), or asks for a Conditional Access authentication context,
answers a token it no longer accepts with ``401`` and::

    WWW-Authenticate: Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsi..."

``claims`` is the base64url of a JSON object (padding optional) that the client sends back to Entra ID with its
next token request, whose answer then carries those claims. This is what azure-core's
``BearerTokenCredentialPolicy.on_challenge`` and msal's ``claims_challenge`` expect.

Why hand-written: azure-core's parser (``policies._utils.get_challenge_parameter``) is private, splits on the
first space and quote it sees (a comma or an escaped quote inside a quoted value, or a second challenge before
the Bearer one, throws it off) and reads one header line; the HTTP libraries parse no challenge. The grammar is
three productions; this follows it, and gives up at the first thing it does not match (a 401 it cannot read is
then "any other 401").
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM = re.compile(rf"[ \t]*({_TOKEN})[ \t]*=[ \t]*({_TOKEN}|{_QUOTED})")
_SCHEME = re.compile(rf"[ \t]*({_TOKEN})")
_TOKEN68 = re.compile(r"[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|$)")
_SEPARATORS = re.compile(r"[ \t,]*")
_ESCAPE = re.compile(r"\\(.)")

INSUFFICIENT_CLAIMS = "insufficient_claims"


@dataclass(frozen=True)
class Challenge:
    """One challenge: its scheme (lower case), its parameters (names in lower case, values unquoted; the first
    of a repeated name), or its token68 (``Negotiate <blob>``)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge of a ``WWW-Authenticate`` value (several header lines joined with ``, `` included)."""
    found: list[Challenge] = []
    params: dict[str, str] = {}
    position, end = 0, len(header)
    while True:
        position = _SEPARATORS.match(header, position).end()  # type: ignore[union-attr]  # * always matches
        if position >= end:
            break
        param = _PARAM.match(header, position) if found else None
        if param is not None:
            name, value = param.group(1).lower(), param.group(2)
            if value.startswith('"'):
                value = _ESCAPE.sub(r"\1", value[1:-1])
            params.setdefault(name, value)
            position = param.end()
            continue
        scheme = _SCHEME.match(header, position)
        if scheme is None:
            break  # not the grammar: keep what was read so far
        position = scheme.end()
        params = {}
        token68 = _TOKEN68.match(header, position)
        if token68 is not None and _PARAM.match(header, position) is None:
            found.append(Challenge(scheme.group(1).lower(), params, token68.group(1)))
            position = token68.end()
        else:
            found.append(Challenge(scheme.group(1).lower(), params))
    return found


def claims_challenge(header: str | None) -> str | None:
    """The claims (decoded JSON text) of the first Bearer challenge with ``error="insufficient_claims"``; None
    when there is none, or its ``claims`` is not base64url of a JSON object."""
    if not header:
        return None
    for challenge in parse_challenges(header):
        if challenge.scheme == "bearer" and challenge.params.get("error") == INSUFFICIENT_CLAIMS:
            return _decoded(challenge.params.get("claims", ""))
    return None


def _decoded(encoded: str) -> str | None:
    if not encoded:
        return None
    try:
        text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
        claims = json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text if isinstance(claims, dict) and claims else None
