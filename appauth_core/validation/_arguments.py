"""``TokenValidator``'s arguments checked, for code (``TokenValidator(audience=...)``) and for settings
(``APPAUTH['API']['AUDIENCE']``) alike: ``Arguments.check``. ``name`` spells an argument the user's way for
messages and for ``ConfigError.setting``. Checking does no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError

DEFAULT_AUTHORITY = "https://login.microsoftonline.com/"
MULTI_TENANT_NAMES = ("common", "organizations", "consumers")
ANY_TENANT = "*"
MAX_LEEWAY = 300  # seconds: five minutes is the clock skew Microsoft.IdentityModel allows by default

Name = Callable[[str], str]


def code_name(argument: str) -> str:
    return f"TokenValidator({argument}=...)"


@dataclass(frozen=True)
class Arguments:
    audiences: frozenset[str]
    tenants: frozenset[str] | None  # None: any tenant (allowed_tenants=["*"])
    tenant_segment: str  # the tenant's id, or "organizations" for several
    client_ids: frozenset[str] | None  # None: any caller
    authority: str  # with its trailing slash
    leeway: float

    @classmethod
    def check(
        cls,
        audience: Any,
        tenant_id: Any,
        allowed_tenants: Any,
        allowed_client_ids: Any,
        authority: Any,
        leeway: Any,
        name: Name = code_name,
    ) -> Arguments:
        if tenant_id is not None and allowed_tenants is not None:
            raise _error(
                name("tenant_id"),
                f"give {name('tenant_id')} (one tenant) or {name('allowed_tenants')} (several), not both",
            )
        if tenant_id is None and allowed_tenants is None:
            raise _error(
                name("tenant_id"),
                f"{name('tenant_id')} is required: the Directory (tenant) ID of the tenant whose tokens this API "
                f"accepts (a GUID), or {name('allowed_tenants')} for a multi-tenant API",
            )
        if tenant_id is not None:
            segment = _tenant(tenant_id, name("tenant_id"), name)
            tenants: frozenset[str] | None = frozenset({segment})
        else:
            tenants = _allowed_tenants(allowed_tenants, name("allowed_tenants"))
            segment = "organizations"
        return cls(
            audiences=frozenset(map(_audience, _names(audience, name("audience"), _AUDIENCE_EXAMPLE))),
            tenants=tenants,
            tenant_segment=segment,
            client_ids=None
            if allowed_client_ids is None
            else frozenset(
                _guid(value, name("allowed_client_ids"), "client id")
                for value in _list(allowed_client_ids, name("allowed_client_ids"), _CLIENTS_EXAMPLE)
            ),
            authority=_authority(authority, name("authority")),
            leeway=_leeway(leeway, name("leeway")),
        )


_AUDIENCE_EXAMPLE = "'api://orders' or ['api://orders', '<client id>']"
_CLIENTS_EXAMPLE = "['<client id of a caller>']"


def _error(setting: str, message: str) -> ConfigError:
    return ConfigError(message[0].upper() + message[1:] + ".", key=setting)


def _list(value: Any, setting: str, example: str) -> list[Any]:
    """A string is one value, not its letters; anything else must be a non-empty list (or tuple, set)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        values = list(value)
        if values:
            return values
    raise _error(setting, f"{setting} must be a string or a non-empty list of strings, e.g. {example}, not {value!r}")


def _names(value: Any, setting: str, example: str) -> list[str]:
    values = _list(value, setting, example)
    for item in values:
        if not isinstance(item, str) or not item or any(c.isspace() for c in item):
            raise _error(setting, f"{setting} holds {item!r}: each must be a string without blanks, e.g. {example}")
    return values


def _audience(value: str) -> str:
    """A client id in the form v2 tokens carry it as ``aud`` (lower case); an App ID URI as it is."""
    try:
        return str(uuid.UUID(value)) if len(value) == 36 else value
    except ValueError:
        return value


def _guid(value: Any, setting: str, what: str) -> str:
    """The GUID in its canonical form (lower case, dashes), as tokens carry it in ``tid`` and ``appid``."""
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise _error(
        setting, f"{setting} holds {value!r}: a {what} is a GUID such as '72f988bf-86f1-41af-91ab-2d7cd011db47'"
    )


def _tenant(value: Any, setting: str, name: Name) -> str:
    if isinstance(value, str) and value.lower() in MULTI_TENANT_NAMES:
        raise _error(
            setting,
            f"{setting} is {value!r}, which is not one tenant: for a multi-tenant API, list the tenants whose "
            f"tokens it accepts in {name('allowed_tenants')} (['*'] for any tenant)",
        )
    if isinstance(value, str) and "." in value:
        raise _error(
            setting,
            f"{setting} is {value!r}, a domain: give the Directory (tenant) ID instead, the GUID tokens carry in "
            "'tid' (Azure portal, Microsoft Entra ID, Overview)",
        )
    return _guid(value, setting, "tenant id")


def _allowed_tenants(value: Any, setting: str) -> frozenset[str] | None:
    values = _list(value, setting, "['<tenant id>', '<tenant id>'] or ['*']")
    if ANY_TENANT in values:
        if len(values) > 1:
            raise _error(setting, f"{setting} is either ['*'] (any tenant) or a list of tenant ids, not both")
        return None
    return frozenset(_guid(item, setting, "tenant id") for item in values)


def _authority(value: Any, setting: str) -> str:
    if not isinstance(value, str) or not value:
        raise _error(setting, f"{setting} must be the Entra ID sign-in URL, e.g. {DEFAULT_AUTHORITY!r}, not {value!r}")
    parts = urlsplit(value)
    problem = None
    if parts.scheme != "https" or not parts.hostname:
        problem = "it is not an https URL"
    elif parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        problem = "it has a user name, password, query or fragment"
    elif parts.path.strip("/"):
        problem = "it has a path: the tenant goes in tenant_id / allowed_tenants, not in the authority"
    if problem:
        raise _error(setting, f"{setting} {value!r} is not an authority: {problem}; e.g. {DEFAULT_AUTHORITY!r}")
    return f"https://{parts.netloc}/"


def _leeway(value: Any, setting: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_LEEWAY:
        raise _error(setting, f"{setting} must be a number of seconds from 0 to {MAX_LEEWAY} (e.g. 60), not {value!r}")
    return float(value)
