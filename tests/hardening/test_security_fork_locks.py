"""Security class: a lock that a forked child inherits in the held state.

A thread of the parent may hold any of appauth's locks at the moment gunicorn ``--preload`` or Celery's prefork
pool forks; the child's copy of that lock stays held forever and the first request that needs it hangs the
worker. Every lock must therefore be re-created in the child (``appauth_core._internal.fork_safety``).

The test does not keep a list of the locks: it finds them. It walks every module of ``appauth_core``,
``appauth_django`` and ``appauth_flask`` and every live instance of their classes (``gc``), takes every
``Lock`` / ``RLock`` held in an attribute (directly or in a dict, list, tuple or set there), holds all of them on
a parent thread, forks, and in the child walks again: any lock still held there is one that was not
re-created. The emulator (``appauth_core.testing``) is left out: it is a test server that never runs in a forked
worker (the demo sites run it in a process of its own).
"""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import appauth_core
import appauth_django
import appauth_flask
import tests.django.conftest  # noqa: F401 - configures Django, so that every appauth_django module imports
from appauth_core import AzureServiceTokenProvider, KeyVaultSecrets
from appauth_core.testing import AzureEmulator
from tests.core.test_fork_safety import in_children

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")

PACKAGES = ("appauth_core", "appauth_django", "appauth_flask")
LEFT_OUT = ("appauth_core.testing",)
LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
MIN_LOCKS = 10  # the walk finds at least this many here; fewer means the walk itself is broken


def _ours(name: str) -> bool:
    in_package = any(name == p or name.startswith(p + ".") for p in PACKAGES)
    return in_package and not any(name == p or name.startswith(p + ".") for p in LEFT_OUT)


def _import_every_module() -> None:
    for package in (appauth_core, appauth_django, appauth_flask):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if _ours(info.name):
                importlib.import_module(info.name)


def _attributes(obj: Any) -> Iterator[tuple[str, Any]]:
    try:
        namespace = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        namespace = None
    if type(namespace) is dict:
        yield from list(namespace.items())
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if type(slots) is str else slots:
            try:
                yield slot, object.__getattribute__(obj, slot)
            except AttributeError:
                continue


def _locks_in(value: Any, where: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    # type(), never isinstance(): isinstance asks a lazy object (Django's settings, a storage) for its
    # __class__, which sets it up.
    kind = type(value)
    if kind in LOCK_TYPES:
        yield where, value
    elif depth < 2 and kind is dict:
        for key, item in list(value.items()):
            yield from _locks_in(item, f"{where}[{key!r}]", depth + 1)
    elif depth < 2 and kind in (list, tuple, set, frozenset):
        for index, item in enumerate(list(value)):
            yield from _locks_in(item, f"{where}[{index}]", depth + 1)


def package_locks() -> dict[int, tuple[str, Any]]:
    """id(lock) -> (where it was found, the lock), over the package's modules and live instances."""
    roots: list[tuple[str, Any]] = [
        (name, module) for name, module in list(sys.modules.items()) if type(module) is ModuleType and _ours(name)
    ]
    roots += [
        (f"{type(obj).__module__}.{type(obj).__qualname__}@{id(obj):x}", obj)
        for obj in gc.get_objects()
        if not issubclass(type(obj), (type, ModuleType)) and _ours(getattr(type(obj), "__module__", "") or "")
    ]
    found: dict[int, tuple[str, Any]] = {}
    for root_name, root in roots:
        for attribute, value in _attributes(root):
            for where, lock in _locks_in(value, f"{root_name}.{attribute}"):
                found.setdefault(id(lock), (where, lock))
    return found


def _held(lock: Any) -> bool:
    if lock.acquire(blocking=False):
        lock.release()
        return False
    return True


@pytest.fixture
def package_in_use(azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> Iterator[None]:
    """Every module imported, and the objects an app creates alive: a managed-identity provider and a
    service-principal one (msal's client and token store) that got tokens, and a ``KeyVaultSecrets`` that read a
    secret over the shared TLS context."""
    _import_every_module()
    azure_emulator.vault.set_secret("fork-lock-secret", "value")
    provider = AzureServiceTokenProvider("RunAs=App", environ=azure_emulator.app_service_env())
    app = azure_emulator.app
    service_principal = AzureServiceTokenProvider(
        f"RunAs=App;AppId={app.app_id};TenantId={azure_emulator.tenant_id};AppKey={app.secrets[0]}",
        azure_emulator.authority,
    )
    assert service_principal.get_access_token("https://management.azure.com")
    secrets = KeyVaultSecrets(azure_emulator.vault.url, provider)
    assert secrets.get("fork-lock-secret") == "value"
    yield
    del provider, service_principal, secrets


def test_every_lock_of_the_package_is_new_in_a_forked_child(package_in_use: None) -> None:
    locks = package_locks()
    names = sorted(where for where, _ in locks.values())
    assert len(locks) >= MIN_LOCKS, names
    assert any(where.startswith("appauth_core._internal.http_trust.") for where in names), names  # walk reaches them

    holding, release = threading.Event(), threading.Event()
    taken: list[Any] = []

    def hold_every_lock() -> None:
        for _, lock in locks.values():
            if lock.acquire(timeout=5):
                taken.append(lock)
        holding.set()
        release.wait(60)
        for lock in reversed(taken):
            lock.release()

    holder = threading.Thread(target=hold_every_lock, name="holds-every-lock", daemon=True)
    holder.start()
    assert holding.wait(30)
    try:
        assert len(taken) == len(locks)  # each one really is held by another thread at the fork
        [still_held] = in_children(lambda _: sorted(w for w, lock in package_locks().values() if _held(lock)))
    finally:
        release.set()
        holder.join(30)
    assert still_held == [], f"{len(still_held)} of {len(locks)} locks inherited held: {still_held}"
