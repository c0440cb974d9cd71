"""Leak canaries: a secret planted by a test must never surface in a log line (at DEBUG), an exception's
text or traceback, command output or a rendered page. Registered from ``tests/conftest.py``.

Two parts:

- The ``canaries`` fixture. ``canaries.new("app-key")`` makes a unique value to plant (an AppKey, a secret
  value, a header); ``canaries.add(value, "label")`` registers one made elsewhere (the emulator's client
  secret, an access token). While the test runs, the appauth, azure, msal and urllib3 loggers log at DEBUG
  into ``caplog``; ``canaries.check(text, where)`` and ``canaries.check_error(exc)`` scan what the test
  rendered; at teardown everything the test logged is scanned too.
- A safety net for the whole suite. Every canary registered so far in the run, and the emulator's own
  credentials (client secret, managed-identity headers) once a test has used the emulator, are looked for in
  the captured logs, stdout and stderr of every passing test; a hit fails that test. So a value that one test
  planted and a cache or a logger carried into a later test's output is caught as well.

(Named ``canaries`` because ``tests/flask`` has a ``canary`` fixture of its own that stores a vault secret.)
"""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

DEBUG_LOGGERS = ("appauth_core", "appauth_django", "appauth_flask", "azure", "msal", "urllib3", "django", "flask")
"""Loggers a canary test runs at DEBUG: ours, and those of the libraries that see credentials."""

FRAGMENT = 16
"""A generated canary also counts as leaked when any run of this many of its random characters shows up
(a message cut at N characters still leaks its start)."""


@dataclass(frozen=True)
class Canary:
    label: str
    value: str
    fragments: tuple[str, ...] = ()

    def found_in(self, text: str) -> bool:
        return self.value in text or any(fragment in text for fragment in self.fragments)


def _fragments(random_part: str) -> tuple[str, ...]:
    return tuple(random_part[i : i + FRAGMENT] for i in range(len(random_part) - FRAGMENT + 1))


def _jwt_signature(value: str) -> str | None:
    """The random part of a JWT (its signature): headers and claims are shared by many tokens."""
    parts = value.split(".")
    if len(parts) == 3 and value.startswith("eyJ") and len(parts[2]) >= FRAGMENT:
        return parts[2]
    return None


@dataclass
class CanaryRegistry:
    """Every canary known in this run. Values too short to be recognisable are refused."""

    canaries: dict[str, Canary] = field(default_factory=dict)

    def register(self, canary: Canary) -> Canary:
        if len(canary.value) < 12:
            raise ValueError(f"canary {canary.label!r} is too short to be recognised reliably")
        self.canaries.setdefault(canary.value, canary)
        return canary

    def add(self, value: str, label: str) -> str:
        signature = _jwt_signature(value)
        self.register(Canary(label, value, (signature,) if signature else ()))
        return value

    def leaks(self, text: str, among: Iterable[Canary] | None = None) -> list[str]:
        return sorted({c.label for c in (self.canaries.values() if among is None else among) if c.found_in(text)})


class Canaries:
    """The ``canaries`` fixture: plant values, then prove they stayed out of everything a user can see."""

    def __init__(self, registry: CanaryRegistry) -> None:
        self._registry = registry
        self._mine: list[Canary] = []

    def new(self, label: str) -> str:
        """A unique value (letters and digits only, so it fits in a connection string, a header or a URL)."""
        random_part = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        value = f"Canary{re.sub('[^0-9A-Za-z]', '', label.title())}{random_part}"
        self._mine.append(self._registry.register(Canary(label, value, _fragments(random_part))))
        return value

    def add(self, value: str, label: str) -> str:
        """Register a secret made elsewhere (a client secret, a token, an identity header)."""
        self._registry.add(value, label)
        self._mine.append(self._registry.canaries[value])
        return value

    @property
    def values(self) -> list[str]:
        return [c.value for c in self._mine]

    def leaks(self, text: str) -> list[str]:
        """Labels of this test's canaries found in ``text`` (all of the run's, in fact: a leak is a leak)."""
        return self._registry.leaks(text)

    def check(self, text: str, where: str) -> None:
        leaked = self.leaks(text)
        assert not leaked, f"canary {leaked} leaked into {where}:\n{text[:4000]}"

    def check_error(self, error: BaseException) -> None:
        """The message, the repr, the args and the whole traceback (chained causes included)."""
        self.check(str(error), f"the text of {type(error).__name__}")
        self.check(repr(error), f"the repr of {type(error).__name__}")
        self.check(repr(error.args), f"the args of {type(error).__name__}")
        self.check("".join(traceback.format_exception(error)), f"the traceback of {type(error).__name__}")
        for name, attribute in vars(error).items():
            self.check(repr(attribute), f"{type(error).__name__}.{name}")


_REGISTRY = pytest.StashKey[CanaryRegistry]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REGISTRY] = CanaryRegistry()


def session_registry(config: pytest.Config) -> CanaryRegistry:
    """The run's registry, for fixtures that plant canaries outside the ``canaries`` fixture."""
    return config.stash[_REGISTRY]


@pytest.fixture
def canaries(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[Canaries]:
    """Canary values for this test; the credential-handling loggers log at DEBUG while it runs, and what they
    logged is scanned at teardown."""
    for name in DEBUG_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    planted = Canaries(session_registry(request.config))
    yield planted
    records = caplog.get_records("call") + caplog.get_records("setup")
    text = "\n".join(_record_text(record) for record in records)
    planted.check(text, "the log (DEBUG)")


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage()]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


def _register_emulator(registry: CanaryRegistry, emulator: Any) -> None:
    """The session emulator's credentials: no test has a reason to print them."""
    for secret in getattr(emulator.app, "secrets", ()):
        registry.add(secret, "emulator client secret")
    registry.add(emulator.managed_identity.identity_header, "emulator IDENTITY_HEADER")
    registry.add(emulator.managed_identity.service_fabric_secret, "emulator Service Fabric secret")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    registry = session_registry(item.config)
    emulator = getattr(item, "funcargs", {}).get("azure_emulator_session")
    if emulator is not None:
        _register_emulator(registry, emulator)
    if not report.passed or not registry.canaries:
        return
    for section, text in report.sections:
        if not section.startswith("Captured") or not section.endswith(f" {report.when}"):
            continue  # an earlier phase's output was scanned with that phase's report
        leaked = registry.leaks(text)
        if leaked:
            report.outcome = "failed"
            report.longrepr = (
                f"leak canary: {', '.join(leaked)} found in '{section}' of {item.nodeid} "
                "(a secret planted by this or an earlier test)"
            )
            return
