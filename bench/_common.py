"""What every benchmark shares: the emulator in this process, interleaved timing loops, and the result shape
that ``run_all.py`` turns into BENCHMARKS.md.

Each benchmark module has ``run() -> BenchResult`` and can also be run alone (``python bench/<name>.py``).
Our code and the anchor (azure-identity, msal, ...) always run in the same process, against the same
emulator, in alternating rounds, so a noisy neighbour on the machine slows both alike.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from appauth_core.testing.emulator import SOURCE_SELECTING_VARIABLES, AzureEmulator

CONTROL_KEY_HEADER = "X-Appauth-Emulator-Key"  # the emulator's control API (docs/testing.md)

REPO = Path(__file__).resolve().parent.parent
VAULT = "https://vault.azure.net"
VAULT_SCOPE = f"{VAULT}/.default"


class NotMeasured(Exception):
    """The thing to measure does not exist yet (a module still being written, a tool not installed)."""


def require(module: str) -> None:
    """Raise NotMeasured unless ``module`` can be imported."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package
        found = False
    if not found:
        raise NotMeasured(f"{module} does not exist yet")


@dataclass
class Row:
    """One line of the BENCHMARKS.md table. ``met`` is None when the row has no goal of its own."""

    comparison: str
    ours: str
    anchor: str
    ratio: str
    goal: str
    met: bool | None


@dataclass
class BenchResult:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # raw numbers, for --json and the curious
    notes: list[str] = field(default_factory=list)  # Markdown lines for the report's detail section

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def print_summary(self) -> None:
        print(f"== {self.title}")
        for row in self.rows:
            verdict = "-" if row.met is None else ("MET" if row.met else "MISSED")
            print(f"   {row.comparison}: ours {row.ours} | {row.anchor} | {row.ratio} | goal {row.goal}: {verdict}")
        for note in self.notes:
            print(f"   {note}")


# --- the emulator, in this process --------------------------------------------------------------------


@contextmanager
def patched_environ(values: dict[str, str], *, clear: tuple[str, ...] = SOURCE_SELECTING_VARIABLES) -> Iterator[None]:
    """``os.environ`` with ``clear`` removed and ``values`` set, restored afterwards (anchors read it)."""
    saved = dict(os.environ)
    try:
        for name in clear:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def running_emulator(**options: Any) -> Iterator[AzureEmulator]:
    """An emulator started here, with this process pointed at it (App Service managed identity, IMDS
    override, the emulator's CA for requests): what azure-identity and msal read from the environment."""
    with AzureEmulator(**options) as emulator, patched_environ(emulator.process_env()):
        yield emulator


def client_secret_connection_string(emulator: AzureEmulator | EmulatorProcess) -> str:
    return f"RunAs=App;AppId={emulator.app.app_id};TenantId={emulator.tenant_id};AppKey={emulator.app.secrets[0]}"


# --- the emulator in a process of its own ---------------------------------------------------------------

EMULATOR_START_TIMEOUT = 60.0


class _App:
    def __init__(self, app_id: str, secret: str) -> None:
        self.app_id, self.secrets = app_id, [secret]


class _Vault:
    def __init__(self, url: str, name: str = "local") -> None:
        self.url, self.name = url, name


class EmulatorProcess:
    """The emulator as ``python -m appauth_core.testing`` runs it, in a process (and so a GIL) of its own,
    steered over its control API. For benchmarks whose subject is concurrency: an emulator in the
    measuring process would spend that process's GIL on its TLS handshakes and token checks, which a
    real vault does on its own machines. Offers the few attributes of ``AzureEmulator`` the benchmarks use."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.authority = env["APPAUTH_EMULATOR_AUTHORITY"]
        self.tenant_id = env["APPAUTH_EMULATOR_TENANT_ID"]
        self.app = _App(env["APPAUTH_EMULATOR_APP_ID"], env["APPAUTH_EMULATOR_APP_SECRET"])
        self.vault = _Vault(env["APPAUTH_EMULATOR_VAULT_URL"])
        self.ca_path = Path(env["APPAUTH_EMULATOR_CA"])
        self.ca_bundle_path = Path(env["APPAUTH_EMULATOR_CA_BUNDLE"])

    def control(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the emulator's own loopback control port
            self.env["APPAUTH_EMULATOR_CONTROL_URL"].rstrip("/") + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={CONTROL_KEY_HEADER: self.env["APPAUTH_EMULATOR_CONTROL_KEY"], "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            payload = response.read()
        return json.loads(payload) if payload else None

    def set_secret(self, name: str, value: str) -> None:
        self.control("POST", "/secrets", {"name": name, "value": value})

    def inject(self, endpoint: str, **fault: Any) -> None:
        self.control("POST", "/faults", {"endpoint": endpoint, **fault})

    def clear_faults(self) -> None:
        self.control("DELETE", "/faults")

    def reset_counters(self) -> None:
        self.control("DELETE", "/counters")

    def counters(self) -> dict[str, int]:
        counts: dict[str, int] = self.control("GET", "/counters")
        return counts

    def process_env(self, *, ca: Path | None = None) -> dict[str, str]:
        """What points a process at this emulator (App Service managed identity, IMDS override) with
        ``ca`` (default: the emulator's CA bundle) as the trust for requests."""
        trust = str(ca or self.ca_bundle_path)
        return {**self.env, "REQUESTS_CA_BUNDLE": trust, "SSL_CERT_FILE": trust}


def count(counters: dict[str, int], prefix: str) -> int:
    """Requests to ``prefix`` and every endpoint below it, from a counters snapshot."""
    return sum(n for name, n in counters.items() if name == prefix or name.startswith(prefix + "."))


@contextmanager
def emulator_process() -> Iterator[EmulatorProcess]:
    """The emulator started in a child process (loopback only), stopped afterwards. The caller points
    this process at it (``patched_environ(emulator.process_env())``)."""
    with tempfile.TemporaryDirectory(prefix="appauth-bench-emulator-") as scratch:
        env_file, log = Path(scratch) / "emulator.env", Path(scratch) / "emulator.log"
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, the emulator's own command line
                [sys.executable, "-m", "appauth_core.testing", "--env-file", str(env_file)],
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + EMULATOR_START_TIMEOUT
            while not env_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the emulator process did not start; its log:\n{log.read_text()[-2000:]}")
                time.sleep(0.05)
            yield EmulatorProcess(_read_env_file(env_file))
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name.strip()] = json.loads(value) if value.startswith('"') else value
    return values


# --- timing ---------------------------------------------------------------------------------------------


def per_call_seconds(
    candidates: dict[str, Callable[[], object]], *, number: int, rounds: int
) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one figure per round; rounds alternate between candidates.
    ``timeit`` turns the garbage collector off while it loops, for every candidate alike."""
    timings: dict[str, list[float]] = {name: [] for name in candidates}
    timers = {name: timeit.Timer(function) for name, function in candidates.items()}
    for _ in range(rounds):
        for name, timer in timers.items():
            timings[name].append(timer.timeit(number) / number)
    return timings


def median(values: list[float]) -> float:
    return statistics.median(values)


def format_seconds(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def times_faster(ours: float, anchor: float) -> str:
    """``anchor / ours`` as "12.3x faster" (or "2.0x slower")."""
    if ours <= 0:
        return "n/a"
    ratio = anchor / ours
    return f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"


def print_ratio(label: str, ours: str, anchor_name: str, anchor: str, ratio: str) -> None:
    print(f"{label}: ours {ours} vs {anchor_name} {anchor} -> {ratio}", flush=True)
