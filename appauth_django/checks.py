"""System checks (``python manage.py check``; silence an id with ``SILENCED_SYSTEM_CHECKS``).

Configuration (no I/O, every run):

- ``appauth.E001`` the connection string (``APPAUTH['CONNECTION_STRING']`` or the environment) is invalid
- ``appauth.E002`` ``KEY_VAULT_URL`` / ``ALLOWED_VAULT_HOSTS`` invalid, or a reference names a vault that
  is not allowed
- ``appauth.E003`` ``TEMPLATE_SECRETS`` is not a list of secret names, or there is no vault to read them from
- ``appauth.E004`` an unknown key in ``APPAUTH``
- ``appauth.E005`` a shared ``CACHE`` without a (valid) ``CACHE_ENCRYPTION_KEY``
- ``appauth.E006`` ``CACHE`` does not name a cache in ``CACHES``
- ``appauth.E007`` another ``APPAUTH`` value has the wrong type (or ``APPAUTH`` is not a dict)
- ``appauth.E008`` ``AZURE_AD_INSTANCE`` is invalid
- ``appauth.E009`` a malformed ``@Microsoft.KeyVault(...)`` reference left unresolved
- ``appauth.E010`` a reference could not be read at start-up (this command runs with it unresolved)
- ``appauth.E011`` ``APPAUTH_RESOLVE_REFERENCES`` in the environment is neither 0 nor 1
- ``appauth.E012`` ``APPAUTH['API']`` (how this app checks the tokens it is called with) is invalid
- ``appauth.E013`` ``APPAUTH['DOWNSTREAM_APIS']`` (the APIs this app calls) is invalid
- ``appauth.W001`` ``DEFAULT_EXCEPTION_REPORTER_FILTER`` would show appauth's secrets on error pages
- ``appauth.W002`` references are left unresolved (``RESOLVE_REFERENCES`` is False, or
  ``APPAUTH_RESOLVE_REFERENCES=0``)
- ``appauth.W003`` as E010, in a command of ``COMMANDS_WITHOUT_SECRETS`` (a warning, so that it runs)
- ``appauth.W004`` a setting whose name looks like appauth's but is not read (``APP_AUTH``, ``appauth``)
- ``appauth.W005`` ``appauth_django`` is installed but ``AppAuthMiddleware`` is not in ``MIDDLEWARE``

Online (``check --deploy --tag appauth_online``, or every ``check --deploy`` with
``APPAUTH['ONLINE_CHECKS'] = True``): they really sign in and read the vault, so, as Django's own database
checks wait for ``--database``, they do nothing unless asked, and ``check --deploy`` stays offline (CI):

- ``appauth.E101`` no token could be had
- ``appauth.E102`` a template secret or a referenced secret cannot be read
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from typing import Any

from django.apps import AppConfig  # type: ignore[import-untyped]
from django.conf import settings  # type: ignore[import-untyped]
from django.core.checks import CheckMessage, Error, Tags, Warning, register  # type: ignore[import-untyped]
from django.core.checks.registry import CheckRegistry  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.utils.module_loading import import_string  # type: ignore[import-untyped]

from appauth_core import AzureServiceTokenProvider, KeyVaultSecrets
from appauth_core.errors import AppAuthError, ConnectionStringError, SecretAccessDeniedError
from appauth_core.keyvault import check_secret_name
from appauth_core.web import (
    KEYS,
    RESOLVE_VARIABLE,
    AppAuthConfig,
    ConfigError,
    connection_string_setting,
    diagnostics,
    look_alike,
    reference_problems,
    resolution_override,
)

from . import conf, resolution, startup
from .debug import FILTER_PATH, AppAuthExceptionReporterFilter
from .request import MIDDLEWARE_LINE, has_middleware

TAG = "appauth"
EXAMPLE_VAULT = "https://myvault.vault.azure.net/"
ONLINE_TAG = "appauth_online"
FERNET_HINT = (
    "Make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' "
    "and keep it out of the code (an app setting, or a @Microsoft.KeyVault(...) reference)."
)


def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Every configuration problem at once, without I/O."""
    return [*_look_alikes(), *_middleware(), *_check_appauth()]


def _look_alikes() -> Iterable[CheckMessage]:
    """Settings named almost ``APPAUTH``; Django drops names that are not upper case before anyone sees them,
    so those are looked for in the settings module itself."""
    module = sys.modules.get(getattr(settings, "SETTINGS_MODULE", None) or "")
    names = [*dir(settings), *(vars(module) if module else ())]
    for name in dict.fromkeys(name for name in names if not name.startswith("_")):
        found = look_alike(name)
        if found is None or name == conf.SETTING:
            continue
        meant = conf.spell(found.key) if found.key else conf.SETTING
        hint = "Django reads upper-case settings only. " if not name.isupper() else ""
        yield Warning(
            f"The setting {name} is not read by appauth: did you mean {meant}?",
            hint=f"{hint}appauth reads one dict: {conf.SETTING} = {{'KEY_VAULT_URL': '{EXAMPLE_VAULT}', ...}}.",
            id="appauth.W004",
        )


def _middleware() -> Iterable[CheckMessage]:
    if not has_middleware():
        yield Warning(
            "appauth_django is in INSTALLED_APPS, but MIDDLEWARE has no AppAuthMiddleware, so views have no "
            "request.appauth.",
            hint=f"Add it in settings.py: {MIDDLEWARE_LINE} (silence appauth.W005 if the app only uses appauth for "
            "settings-time secrets).",
            id="appauth.W005",
        )


def _check_appauth() -> list[CheckMessage]:
    try:
        values = conf.user_settings()
    except ConfigError as error:
        return [Error(str(error), id="appauth.E007"), *_unreadable(resolution.unresolved_references())]
    messages: list[CheckMessage] = [
        _unknown_key(key, values[key]) for key in values if key not in KEYS and key not in conf.DJANGO_KEYS
    ]
    messages.extend(_django_keys(values))
    messages.extend(_service_to_service(values))
    try:
        config = conf.read_config(
            {key: value for key, value in values.items() if key in KEYS and key not in SERVICE_TO_SERVICE}
        )
    except ConfigError as error:
        code = "appauth.E003" if error.key == conf.spell("TEMPLATE_SECRETS") else "appauth.E007"
        return [*messages, Error(str(error), id=code), *_unreadable(resolution.unresolved_references())]
    for check in CONFIG_CHECKS:
        messages.extend(check(config))
    return messages


def _unknown_key(key: Any, value: Any) -> Error:
    try:
        AppAuthConfig.from_mapping({key: value}, spell=conf.SPELL)
    except ConfigError as error:  # the core's message, with its "did you mean" hint
        return Error(str(error), obj=conf.SETTING, id="appauth.E004")
    raise AssertionError(f"{key!r} is a known key")  # pragma: no cover - callers pass unknown keys only


def _django_keys(values: Any) -> Iterable[CheckMessage]:
    for read in (conf.commands_without_secrets, conf.online_checks):
        try:
            read(values)
        except ConfigError as error:
            yield Error(str(error), id="appauth.E007")


SERVICE_TO_SERVICE = {"API": "appauth.E012", "DOWNSTREAM_APIS": "appauth.E013"}
SERVICE_TO_SERVICE_HINTS = {
    "API": "e.g. APPAUTH['API'] = {'AUDIENCE': 'api://orders', 'TENANT_ID': '<your tenant id>'}.",
    "DOWNSTREAM_APIS": "e.g. APPAUTH['DOWNSTREAM_APIS'] = {'orders': {'BASE_URL': 'https://orders.example.com/', "
    "'RESOURCE': 'api://orders'}}.",
}


def _service_to_service(values: Mapping[str, Any]) -> Iterable[CheckMessage]:
    """``API`` and ``DOWNSTREAM_APIS`` on their own, so that a mistake in one hides no other problem."""
    for key, code in SERVICE_TO_SERVICE.items():
        if key in values:
            try:
                conf.read_config({key: values[key]})
            except ConfigError as error:
                yield Error(str(error), hint=SERVICE_TO_SERVICE_HINTS[key], id=code)


def _connection_string(config: AppAuthConfig) -> Iterable[CheckMessage]:
    try:
        AzureServiceTokenProvider(config.connection_string, config.azure_ad_instance)
    except ConnectionStringError as error:
        where = connection_string_setting(config, error, conf.SPELL)
        code = "appauth.E008" if where == conf.spell("AZURE_AD_INSTANCE") else "appauth.E001"
        yield Error(f"{where}: {error}", id=code)


def _vault(config: AppAuthConfig) -> Iterable[CheckMessage]:
    try:
        KeyVaultSecrets(config.key_vault_url, allowed_hosts=config.allowed_vault_hosts).close()
    except AppAuthError as error:
        yield Error(
            f"{conf.spell('KEY_VAULT_URL')} / {conf.spell('ALLOWED_VAULT_HOSTS')}: {error}",
            hint="KEY_VAULT_URL is your vault's https URL, e.g. 'https://myvault.vault.azure.net/'.",
            id="appauth.E002",
        )


def _template_secrets(config: AppAuthConfig) -> Iterable[CheckMessage]:
    setting = conf.spell("TEMPLATE_SECRETS")
    for name in sorted(config.template_secrets):
        try:
            check_secret_name(name)
        except AppAuthError as error:
            yield Error(f"{setting}: {error}", id="appauth.E003")
    if config.template_secrets and not config.key_vault_url:
        yield Error(
            f"{setting} names secrets, but there is no vault to read them from.",
            hint=f"Set {conf.spell('KEY_VAULT_URL')}.",
            id="appauth.E003",
        )


def _shared_cache(config: AppAuthConfig) -> Iterable[CheckMessage]:
    if config.cache is None:
        return
    try:
        backend = conf.shared_cache(config)
    except ConfigError as error:
        yield Error(str(error), id="appauth.E006")
        return
    key_setting = conf.spell("CACHE_ENCRYPTION_KEY")
    if not config.cache_encryption_key:
        yield Error(
            f"{conf.spell('CACHE')} shares secret values with other processes, so {key_setting} must be set "
            "to encrypt them.",
            hint=FERNET_HINT,
            id="appauth.E005",
        )
        return
    try:
        KeyVaultSecrets(
            config.key_vault_url,
            allowed_hosts=config.allowed_vault_hosts,
            shared_cache=backend,
            encryption_key=config.cache_encryption_key,
        ).close()
    except AppAuthError as error:
        yield Error(f"{key_setting}: {error}", hint=FERNET_HINT, id="appauth.E005")


def _references(config: AppAuthConfig) -> Iterable[CheckMessage]:
    unresolved = resolution.unresolved_references()
    disabled_by = startup.resolution_disabled_by()
    if unresolved and disabled_by:
        yield Warning(
            f"{len(unresolved)} setting(s) hold @Microsoft.KeyVault(...) references that are not resolved, "
            f"because {disabled_by}: {', '.join(unresolved)}.",
            hint="Code reading these settings gets the reference text, not the secret.",
            id="appauth.W002",
        )
    problems = reference_problems(config, unresolved)
    yield from _unreadable(unresolved, reported={problem.setting for problem in problems})
    for problem in problems:
        if problem.kind == "not_allowed":
            yield Error(
                f"{problem.setting}: {problem.message}.",
                hint=f"If that really is your vault, add its host to {conf.spell('ALLOWED_VAULT_HOSTS')}.",
                id="appauth.E002",
            )
        else:
            yield Error(f"{problem.setting}: {problem.message}", id="appauth.E009")


def _unreadable(unresolved: Mapping[str, str], reported: Set[str] = frozenset()) -> Iterable[CheckMessage]:
    """The references start-up could not read (``appauth_django.startup``), still in the settings."""
    try:
        resolution_override()
    except ConfigError as error:
        yield Error(str(error), hint=f"Unset {RESOLVE_VARIABLE}, or set it to 0 or 1.", id="appauth.E011")
    outcome = startup.outcome()
    listed = outcome.command is not None and outcome.command not in startup.TOLERANT_COMMANDS
    for setting, why in outcome.unreadable.items():
        if setting in unresolved and setting not in reported:
            message = f"{setting}: its Key Vault secret could not be read at start-up: {why}"
            if listed:
                yield Warning(message, hint=UNREADABLE_HINT, id="appauth.W003")
            else:
                yield Error(message, hint=UNREADABLE_HINT, id="appauth.E010")


STARTUP_FAILURES = frozenset({"appauth.E010", "appauth.W003"})
UNREADABLE_HINT = (
    "This command runs with every @Microsoft.KeyVault(...) setting unresolved; serving (runserver, gunicorn, "
    "uvicorn ...) stops at start-up until each can be read. `python manage.py appauth check` tries again. Where "
    f"no identity can read the vault (builds, CI), set {RESOLVE_VARIABLE}=0."
)


def _reporter_filter(config: AppAuthConfig) -> Iterable[CheckMessage]:
    path = settings.DEFAULT_EXCEPTION_REPORTER_FILTER
    try:
        configured = import_string(path)
    except ImportError:
        return  # Django reports a filter it cannot import when it needs it
    if not (isinstance(configured, type) and issubclass(configured, AppAuthExceptionReporterFilter)):
        yield Warning(
            f"DEFAULT_EXCEPTION_REPORTER_FILTER is {path!r}, which may show appauth's connection string, the "
            "managed-identity header or secrets resolved into settings on error pages and in error e-mails.",
            hint=f"Use {FILTER_PATH!r} or a subclass of it.",
            id="appauth.W001",
        )


CONFIG_CHECKS: tuple[Callable[[AppAuthConfig], Iterable[CheckMessage]], ...] = (
    _connection_string,
    _vault,
    _template_secrets,
    _shared_cache,
    _references,
    _reporter_filter,
)


def check_online(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Sign in and read every secret the configuration names, for real (``diagnostics.check``), when asked:
    ``--tag appauth_online``, or ``APPAUTH['ONLINE_CHECKS']``. Otherwise nothing at all."""
    if not (ONLINE_TAG in _requested_tags() or _online_setting()):
        return []
    if any(message.is_serious() for message in check_settings()):
        return []  # the configuration errors are already reported, and nothing can be tried with them
    try:
        services = conf.get_services()
    except ImproperlyConfigured as error:  # a problem the configuration checks cannot see in advance
        return [Error(str(error), id="appauth.E007")]
    report = diagnostics.check(services, resolution.configured_references())
    messages: list[CheckMessage] = []
    for index, line in enumerate(report.lines):
        if line.status != "fail":
            continue
        if index == 0:  # diagnostics.check tries the token first, and stops there if it fails
            messages.append(Error(line.text, hint=TOKEN_HINT, id="appauth.E101"))
        else:
            messages.append(Error(line.text, hint=_secret_hint(line.error), id="appauth.E102"))
    return messages


_RUN_CHECKS = CheckRegistry.run_checks.__code__


def _requested_tags() -> frozenset[str]:
    """The tags ``check --tag`` (``run_checks(tags=...)``) asked for; none when it asked for every check.
    Django hands a check only ``app_configs`` and ``databases``, so they are read from the ``run_checks``
    call that runs this one (if Django ever changes that, only the setting asks for the online checks)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _RUN_CHECKS:
            tags = frame.f_locals.get("tags")
            return frozenset(tags) if isinstance(tags, (list, tuple, set, frozenset)) else frozenset()
        frame = frame.f_back  # type: ignore[assignment]
    return frozenset()


def _online_setting() -> bool:
    try:
        return conf.online_checks()
    except ConfigError:  # appauth.E007 reports it
        return False


TOKEN_HINT = (
    "In App Service: turn the managed identity on (Identity > System assigned > On). Locally: `az login`. "
    "`python manage.py appauth whoami` shows each method tried and why it failed."
)
SECRET_HINT = "Give the app's identity the 'Key Vault Secrets User' role on the vault (or a 'get' access policy)."
READ_HINT = "The message says what failed and what to change; `python manage.py appauth check` tries the same reads."


def _secret_hint(error: type[AppAuthError] | None) -> str:
    """The role advice only where Key Vault refused the identity: a missing secret, an untrusted certificate or
    an unreachable vault is not fixed by a role, and their messages carry their own advice."""
    return SECRET_HINT if error is not None and issubclass(error, SecretAccessDeniedError) else READ_HINT


register(TAG, Tags.security)(check_settings)
register(ONLINE_TAG, deploy=True)(check_online)
