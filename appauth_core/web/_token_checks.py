"""What the adapters' token checks share (Django's ``require_token``, ``TokenRequiredMixin`` and DRF classes,
Flask's ``AppAuth.require_token``): the roles and scopes a view requires, checked when the view is declared,
and the answer to a refused token, shaped once by the core (``error_response``: RFC 6750's status, challenge
and a small JSON body) and logged with the reason the answer leaves out."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..validation import TokenValidationError, error_response

logger = logging.getLogger("appauth_core")


@dataclass(frozen=True)
class Required:
    """The app roles (``roles`` claim) and delegated scopes (``scp``) a view asks of the caller's token."""

    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()


def required(roles: str | Iterable[str] = (), scopes: str | Iterable[str] = (), *, where: str) -> Required:
    """``roles`` and ``scopes`` as a view declares them (a string is one name, not its letters); ``TypeError``
    naming where they were declared for anything but names, so a mistake fails when the view is declared.
    ``where`` spells that place with ``{}`` for ``roles`` / ``scopes``: ``"require_token({}=...)"``."""
    return Required(_names(roles, where.format("roles")), _names(scopes, where.format("scopes")))


def _names(value: str | Iterable[str], where: str) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, Iterable) else None
    if names is None or not all(isinstance(name, str) and name and not name.isspace() for name in names):
        raise TypeError(f"{where} takes names (a string, or a list of strings such as ['Orders.Read']), not {value!r}")
    return names


def refusal(error: TokenValidationError) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The status, headers (``WWW-Authenticate``) and JSON body to answer ``error`` with. The reason (which
    check failed; never the token) goes to the ``appauth_core`` log only: an answer must not help an attacker."""
    logger.info("Refused a request's bearer token (%s): %s", error.status, error.reason)
    return error_response(error)
