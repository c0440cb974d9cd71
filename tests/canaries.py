"""Leak canaries: a secret planted by a test must never surface in a log line (at DEBUG), an exception's
text or traceback, command output or a rendered page. Registered from ``tests/conftest.py``.

Two parts:

- The ``canaries`` fixture. ``canaries.new("app-key")`` makes a unique value to plant (an AppKey, a secret
  value, a header); ``canaries.add(value, "label")`` registers one made elsewhere (the emulator's client
  secret, an access token). While the test runs, the appauth, azure, msal and urllib3 loggers log at DEBUG
  into ``caplog``; ``canaries.check(text, where)`` and ``canaries.check_error(exc)`` scan what the test
  rendered; at teardown everything the test logged is scanned too.
- The frame-locals scan (``scan_frame_locals``): what Sentry, Rollbar, ``traceback`` with ``capture_locals``,
  rich tracebacks and Werkzeug's debugger show of an exception, namely every local of every frame of its
  traceback and of every exception chained to it. ``check_error`` runs it; so does the fault matrix, with
  the run's registry. Which frames: every frame of the traceback (from the frame that caught the exception
  down to the one that raised it), of each exception reachable through ``__cause__`` and ``__context__``
  (followed even when ``__suppress_context__`` hides it: a strict scanner does) and through an exception
  group's members, except frames whose code lives under ``tests/``: the test planted the secret and holds
  it legitimately. Library frames below appauth (msal, azure-core, requests, urllib3, concurrent.futures)
  count: they are in the traceback an error tracker receives. Each local is seen as Sentry's serializer
  sees it: a string as it is, a mapping, list, tuple or set item by item (keys too) down to
  ``SCAN_DEPTH`` levels, anything else (and anything deeper) by its ``repr()``.
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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
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


TESTS = Path(__file__).resolve().parent
"""Frames whose code lives here are the tests' own: they hold the planted secrets legitimately."""
SCAN_DEPTH = 8
"""Containers inside a local are opened this many levels deep (Sentry stops at 5); deeper, ``repr()``."""
SCAN_ITEMS = 10_000
"""Items of one container looked at (Sentry looks at 10); past that, the container's ``repr()``."""


@dataclass(frozen=True)
class FrameHit:
    """A canary found in a local: which one, which frame (file, line, function) and which local."""

    labels: tuple[str, ...]
    frame: str
    local: str

    def __str__(self) -> str:
        return f"{', '.join(self.labels)} in local {self.local!r} of {self.frame}"


@dataclass
class LocalsScan:
    """What one or more frame-locals scans looked at, and what they found."""

    exceptions: int = 0
    frames: int = 0
    frames_without_locals: int = 0  # cleared (appauth_core._internal.frame_locals) or holding none
    locals: int = 0
    hits: list[FrameHit] = field(default_factory=list)

    def add(self, other: LocalsScan) -> None:
        self.exceptions += other.exceptions
        self.frames += other.frames
        self.frames_without_locals += other.frames_without_locals
        self.locals += other.locals
        self.hits += other.hits

    def __str__(self) -> str:
        return (
            f"{self.exceptions} exceptions, {self.frames} frames ({self.frames_without_locals} without locals), "
            f"{self.locals} locals scanned, {len(self.hits)} hits"
        )


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception reachable from it: ``__cause__``, ``__context__`` (suppressed or not)
    and the members of an exception group, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__context__, current.__cause__]
        members = getattr(current, "exceptions", None)  # an exception group's (BaseExceptionGroup from 3.11)
        if isinstance(members, tuple):
            pending += [member for member in reversed(members) if isinstance(member, BaseException)]


def traceback_frames(error: BaseException) -> Iterator[FrameType]:
    """The frames of ``error``'s own traceback, from where it was caught down to where it was raised."""
    tb = error.__traceback__
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def is_test_frame(frame: FrameType) -> bool:
    try:
        return Path(frame.f_code.co_filename).resolve().is_relative_to(TESTS)
    except (OSError, ValueError):
        return False


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a repr that fails shows nothing (Sentry shows "<broken repr>")
        return f"<broken repr: {type(exc).__name__}>"


def serialized_texts(value: object, depth: int = 0, seen: frozenset[int] = frozenset()) -> Iterator[str]:
    """The text an error tracker would store for ``value`` (see the module docstring)."""
    if isinstance(value, str):
        yield str.__str__(value)  # the characters, whatever a subclass's __str__ says
        return
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            data = bytes(value)
        except ValueError:  # a released memoryview: nothing left to show
            yield _safe_repr(value)
            return
        yield _safe_repr(data)
        yield data.decode("utf-8", "replace")
        return
    container = isinstance(value, (Mapping, list, tuple, set, frozenset))
    if not container or depth >= SCAN_DEPTH or id(value) in seen or len(value) > SCAN_ITEMS:  # type: ignore[arg-type]
        yield _safe_repr(value)
        return
    inside = seen | {id(value)}
    try:
        items: list[object] = (
            [part for pair in list(value.items()) for part in pair] if isinstance(value, Mapping) else list(value)
        )
    except Exception:  # a mapping that cannot be walked is shown as its repr
        yield _safe_repr(value)
        return
    for item in items:
        yield from serialized_texts(item, depth + 1, inside)


def scan_frame_locals(error: BaseException, registry: CanaryRegistry, *, tally: bool = True) -> LocalsScan:
    """Every local of every frame in ``error``'s traceback chain but the tests' own, against ``registry``.
    ``tally``: count it in the run's figure (``TOTALS``); the scan's own tests, which plant hits, do not."""
    scan = LocalsScan()
    for current in exception_chain(error):
        scan.exceptions += 1
        for frame in traceback_frames(current):
            if is_test_frame(frame):
                continue
            scan.frames += 1
            where = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name} ({type(current).__name__})"
            variables = list(frame.f_locals.items())
            scan.frames_without_locals += not variables
            for name, value in variables:
                scan.locals += 1
                labels = {label for text in serialized_texts(value) for label in registry.leaks(text)}
                if labels:
                    scan.hits.append(FrameHit(tuple(sorted(labels)), where, name))
    if tally:
        TOTALS.add(scan)
    return scan


TOTALS = LocalsScan()
"""Every frame-locals scan of this run, for the summary at the end of the run."""


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
    def registry(self) -> CanaryRegistry:
        """The run's registry, which this fixture plants into."""
        return self._registry

    @property
    def values(self) -> list[str]:
        return [c.value for c in self._mine]

    def leaks(self, text: str) -> list[str]:
        """Labels of this test's canaries found in ``text`` (all of the run's, in fact: a leak is a leak)."""
        return self._registry.leaks(text)

    def check(self, text: str, where: str) -> None:
        leaked = self.leaks(text)
        assert not leaked, f"canary {leaked} leaked into {where}:\n{text[:4000]}"

    def check_error(self, error: BaseException) -> LocalsScan:
        """The message, the repr, the args, the whole traceback (chained causes included) and the locals of
        every frame in it (``scan_frame_locals``). Returns what the locals scan looked at."""
        self.check(str(error), f"the text of {type(error).__name__}")
        self.check(repr(error), f"the repr of {type(error).__name__}")
        self.check(repr(error.args), f"the args of {type(error).__name__}")
        self.check("".join(traceback.format_exception(error)), f"the traceback of {type(error).__name__}")
        for name, attribute in vars(error).items():
            self.check(repr(attribute), f"{type(error).__name__}.{name}")
        return self.check_frame_locals(error)

    def check_frame_locals(self, error: BaseException) -> LocalsScan:
        """Fails if a canary is in a local of a frame of ``error``'s traceback chain (see the module docstring)."""
        scan = scan_frame_locals(error, self._registry)
        assert scan.frames, f"no frame of {type(error).__name__}'s traceback was scanned: the check would be vacuous"
        hits = "\n".join(f"  {hit}" for hit in scan.hits)
        assert not scan.hits, f"canaries in the frame locals of {type(error).__name__}'s traceback:\n{hits}"
        return scan


_REGISTRY = pytest.StashKey[CanaryRegistry]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REGISTRY] = CanaryRegistry()


def session_registry(config: pytest.Config) -> CanaryRegistry:
    """The run's registry, for fixtures that plant canaries outside the ``canaries`` fixture."""
    return config.stash[_REGISTRY]


@pytest.fixture
def canaries(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[Canaries]:
    """Canary values for this test; the credential-handling loggers log at DEBUG while it runs, and what they
    logged is scanned at teardown (an exception logged with its traceback, when it is logged)."""
    for name in DEBUG_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    registry = session_registry(request.config)
    planted = Canaries(registry)
    scanner = LoggedErrorScanner(registry)
    root = logging.getLogger()
    root.addHandler(scanner)
    try:
        yield planted
    finally:
        root.removeHandler(scanner)
    records = caplog.get_records("call") + caplog.get_records("setup")
    text = "\n".join(_record_text(record) for record in records)
    planted.check(text, "the log (DEBUG)")
    assert not scanner.hits, "canaries in the frame locals of a logged exception:\n" + "\n".join(scanner.hits)


EMULATOR_LOGGER = "appauth_core.testing"
"""The offline stand-in for Azure logs its own server-side errors; its frames hold what it serves, by design."""


class LoggedErrorScanner(logging.Handler):
    """Scans the frame locals of every exception logged with its traceback, when it is logged: an error
    tracker's logging integration (Sentry's sends ERROR records as events) takes the locals at that moment,
    while the frames that logged it still run. Records of the emulator (``EMULATOR_LOGGER``) are not looked at."""

    def __init__(self, registry: CanaryRegistry) -> None:
        super().__init__(logging.DEBUG)
        self.registry = registry
        self.hits: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or record.name.startswith(EMULATOR_LOGGER):
            return
        for hit in scan_frame_locals(error, self.registry).hits:
            self.hits.append(f"{hit} (logged by {record.name})")


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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The frame-locals figure of the run (the security section of docs/RELIABILITY.md quotes it)."""
    if TOTALS.exceptions:
        terminalreporter.write_line(f"frame-locals scan: {TOTALS}")
