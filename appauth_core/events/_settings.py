"""The ``EVENTS`` settings (Django ``APPAUTH["EVENTS"] = {...}``, Flask ``APPAUTH_EVENTS_*``), read into one
``EventsSettings`` with every wrong value a ``ConfigError`` naming the key as the user spells it.

``AUDIENCE`` is what the Event Grid subscription names as ``--azure-active-directory-application-id-or-uri``
(the webhook's App ID URI or client id): Event Grid sends a token for it, issued in ``TENANT_ID``, to its own
first-party application (``EVENT_GRID_APP_ID`` in Azure's public cloud), and by default only that caller,
holding the ``AzureEventGridSecureWebhookSubscriber`` app role Microsoft's set-up script creates, is accepted.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from ..errors import ConfigError
from ._handshake import EVENT_GRID_ORIGIN

EVENT_GRID_APP_ID = "4962773b-9cdb-44cf-a8bf-237846a00ab7"
"""Microsoft.EventGrid's application id in Azure's public cloud (Azure Government: 54316b56-3481-47f9-8f30-
0300f5542a7b), from Microsoft's secure webhook delivery script."""
EVENT_GRID_ROLE = "AzureEventGridSecureWebhookSubscriber"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com/"

KEYS = (
    "AUDIENCE",
    "TENANT_ID",
    "AUTHORITY",
    "ALLOWED_CLIENT_IDS",
    "REQUIRED_ROLES",
    "ALLOWED_ORIGINS",
    "NEAR_EXPIRY_HOOK",
    "REDIS",
    "ENDPOINT",
)


@dataclass(frozen=True)
class EventsSettings:
    """What the webhook accepts and what invalidations reach. ``redis``: a ``redis://`` URL or ``redis.Redis``
    for the pub/sub channel (None: the client of a ``RedisSecretCache`` ``CACHE``, else the shared cache's
    epoch, else no other process is told). ``endpoint``: this app serves the webhook (False: it only listens,
    e.g. a worker that reads secrets but is not reachable by Event Grid)."""

    audience: str
    tenant_id: str
    authority: str = DEFAULT_AUTHORITY
    allowed_client_ids: tuple[str, ...] = (EVENT_GRID_APP_ID,)
    required_roles: tuple[str, ...] = (EVENT_GRID_ROLE,)
    allowed_origins: tuple[str, ...] = (EVENT_GRID_ORIGIN,)
    near_expiry_hook: Callable[..., Any] | None = field(default=None, compare=False)
    near_expiry_hook_path: str | None = None
    redis: Any = field(default=None, repr=False)  # a URL may hold a password
    endpoint: bool = True


def read_events(
    values: Any, *, spell: str, api: Mapping[str, Any] | None = None, setting: str = "EVENTS"
) -> EventsSettings | None:
    """``values`` (the ``EVENTS`` dict; None or ``{}``: events are off) as ``EventsSettings``. ``spell`` turns a
    key into the user's spelling (``"APPAUTH['EVENTS']['{}']"``, ``"APPAUTH_EVENTS_{}"``). ``TENANT_ID`` and
    ``AUTHORITY`` default to ``api``'s (the ``API`` settings), since the webhook is usually the app's own API."""
    if values is None or values == {}:
        return None
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"{setting} must be a dict, e.g. {{'AUDIENCE': 'api://my-app'}}, not {type(values).__name__}."
        )
    unknown = [key for key in values if key not in KEYS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), KEYS, n=1)
        hint = f" Did you mean {spell.format(close[0])}?" if close else ""
        raise ConfigError(
            f"Unknown appauth setting {spell.format(unknown[0])}.{hint} Valid: {', '.join(map(spell.format, KEYS))}",
            key=spell.format(unknown[0]),
        )
    api = api or {}
    audience = _text(values, "AUDIENCE", spell, required=True)
    tenant = _text(values, "TENANT_ID", spell) or _text(api, "TENANT_ID", spell)
    if not tenant:
        raise ConfigError(
            f"{spell.format('TENANT_ID')} is missing: set it to the tenant the Event Grid subscription names as "
            "--azure-active-directory-tenant-id (the webhook app's tenant).",
            key=spell.format("TENANT_ID"),
        )
    hook_path = _text(values, "NEAR_EXPIRY_HOOK", spell)
    return EventsSettings(
        audience=str(audience),
        tenant_id=tenant,
        authority=_text(values, "AUTHORITY", spell) or _text(api, "AUTHORITY", spell) or DEFAULT_AUTHORITY,
        allowed_client_ids=_names(values, "ALLOWED_CLIENT_IDS", spell, (EVENT_GRID_APP_ID,), empty=False),
        required_roles=_names(values, "REQUIRED_ROLES", spell, (EVENT_GRID_ROLE,), empty=False),
        allowed_origins=_names(values, "ALLOWED_ORIGINS", spell, (EVENT_GRID_ORIGIN,), empty=False),
        near_expiry_hook=_hook(hook_path, spell) if hook_path else None,
        near_expiry_hook_path=hook_path,
        redis=_redis(values.get("REDIS"), spell),
        endpoint=_flag(values, "ENDPOINT", spell),
    )


def _text(values: Mapping[str, Any], key: str, spell: str, *, required: bool = False) -> str | None:
    value = values.get(key)
    if value is None or value == "":
        if required:
            raise ConfigError(
                f"{spell.format(key)} is missing: set it to the App ID URI (or client id) the Event Grid "
                "subscription names as --azure-active-directory-application-id-or-uri.",
                key=spell.format(key),
            )
        return None
    if not isinstance(value, str) or value != value.strip():
        raise ConfigError(
            f"{spell.format(key)} must be a string without blanks around it, not {value!r}.", key=spell.format(key)
        )
    return value


def _names(
    values: Mapping[str, Any], key: str, spell: str, default: tuple[str, ...], *, empty: bool
) -> tuple[str, ...]:
    if key not in values:
        return default
    value = values[key]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) and item.strip() for item in items):
        raise ConfigError(
            f"{spell.format(key)} must be a list of non-empty strings, not {value!r}.", key=spell.format(key)
        )
    if not items and not empty:
        raise ConfigError(
            f"{spell.format(key)} cannot be empty: that would accept deliveries from anyone. Leave it out for the "
            "default.",
            key=spell.format(key),
        )
    return tuple(item.strip() for item in items)


def _flag(values: Mapping[str, Any], key: str, spell: str) -> bool:
    value = values.get(key, True)
    if not isinstance(value, bool):
        raise ConfigError(f"{spell.format(key)} must be True or False, not {value!r}.", key=spell.format(key))
    return value


def _redis(value: Any, spell: str) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"{spell.format('REDIS')} must be a redis:// or rediss:// URL or a redis.Redis client.",
                key=spell.format("REDIS"),
            )
        return value
    if callable(getattr(value, "pubsub", None)) and callable(getattr(value, "publish", None)):
        return value
    raise ConfigError(
        f"{spell.format('REDIS')} must be a redis:// URL or a redis.Redis client, not {type(value).__name__}.",
        key=spell.format("REDIS"),
    )


def _hook(path: str, spell: str) -> Callable[..., Any]:
    """The function a dotted path (``package.module.function`` or ``package.module:function``) names."""
    module_name, _, attribute = path.replace(":", ".").rpartition(".")
    key = spell.format("NEAR_EXPIRY_HOOK")
    try:
        hook = getattr(importlib.import_module(module_name), attribute) if module_name else None
    except ImportError as exc:
        raise ConfigError(f"{key}: the module {module_name!r} cannot be imported ({exc}).", key=key) from None
    except AttributeError:
        hook = None
    if not callable(hook):
        raise ConfigError(f"{key} must name a function, e.g. 'myapp.hooks.secret_near_expiry', not {path!r}.", key=key)
    return cast("Callable[..., Any]", hook)
