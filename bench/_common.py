"""What every benchmark shares: the emulator in this process, interleaved timing loops, and the result shape
that ``run_all.py`` turns into BENCHMARKS.md.

Each benchmark module has ``run() -> BenchResult`` and can also be run alone (``python bench/<name>.py``).
Our code and the anchor (azure-identity, msal, ...) always run in the same process, against the same
emulator, in alternating rounds, so a noisy neighbour on the machine slows both alike.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from appauth_core.testing.emulator import SOURCE_SELECTING_VARIABLES, AzureEmulator

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


def client_secret_connection_string(emulator: AzureEmulator) -> str:
    return f"RunAs=App;AppId={emulator.app.app_id};TenantId={emulator.tenant_id};AppKey={emulator.app.secrets[0]}"


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
