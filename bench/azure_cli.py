"""3. The developer's Azure CLI: how often ``az`` is started, and what N token calls cost.

The real Azure CLI (``.tools/azure-cli``, installed by ``make tools``) is signed in to the emulator as its
service principal, in a configuration folder of its own. Both sides find it through a wrapper ``az`` that
appends a line to a counter file, then execs the real one. Ours:
``AzureServiceTokenProvider("RunAs=Developer;DeveloperTool=AzureCli")`` (the wrapper's folder in
``AzureCLIPath``); anchor: azure-identity's ``AzureCliCredential`` (the wrapper first on ``PATH``).
Each round makes N calls per side, ours on a fresh cache. Goal (issue 8): ours 1 spawn per token lifetime.

``appauth_core.testing.signed_in_azure_cli`` signs it in and keeps the CLI's own traffic on loopback (a dead
proxy refuses anything that is not for the emulator).
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from pathlib import Path

from _common import (
    REPO,
    VAULT,
    VAULT_SCOPE,
    BenchResult,
    NotMeasured,
    Row,
    format_seconds,
    median,
    patched_environ,
    print_ratio,
    running_emulator,
    times_faster,
)
from azure.identity import AzureCliCredential

from appauth_core import AzureServiceTokenProvider
from appauth_core.testing import signed_in_azure_cli
from appauth_core.tokens import TokenCache

CALLS = 10
ROUNDS = 3
AZ_TIMEOUT = 120  # seconds AzureCliCredential may wait for one `az` (its default is 10)


def real_az() -> Path:
    path = Path(os.environ.get("APPAUTH_AZ_CLI") or REPO / ".tools" / "azure-cli" / "bin" / "az")
    if not path.exists():
        raise NotMeasured(f"the Azure CLI is not installed at {path} (`make tools` installs it)")
    return path


def run(calls: int = CALLS, rounds: int = ROUNDS) -> BenchResult:
    az = real_az()
    result = BenchResult("azure_cli", f"3. Azure CLI: {calls} token calls")
    with (
        running_emulator() as emulator,
        tempfile.TemporaryDirectory(prefix="appauth-bench-az-") as scratch,
        signed_in_azure_cli(emulator, az) as environ,
    ):
        folder = Path(scratch)
        counter = folder / "spawns"
        wrapper = _counting_wrapper(az, folder / "wrapper", counter)
        environ.update({"PATH": f"{wrapper}{os.pathsep}{environ['PATH']}", "AzureCLIPath": str(wrapper)})
        everything_else = tuple(name for name in os.environ if name not in environ)
        ours_rounds, anchor_rounds = [], []
        with patched_environ(environ, clear=everything_else):  # AzureCliCredential reads os.environ
            for _ in range(rounds):
                provider = AzureServiceTokenProvider(
                    "RunAs=Developer;DeveloperTool=AzureCli", cache=TokenCache(), environ=environ
                )
                ours_rounds.append(_calls(counter, calls, lambda p=provider: p.get_access_token(VAULT)))
                credential = AzureCliCredential(process_timeout=AZ_TIMEOUT)
                anchor_rounds.append(_calls(counter, calls, lambda c=credential: c.get_token(VAULT_SCOPE)))

    ours_spawns = [spawns for spawns, _, _ in ours_rounds]
    anchor_spawns = [spawns for spawns, _, _ in anchor_rounds]
    ours_total = median([total for _, total, _ in ours_rounds])
    anchor_total = median([total for _, total, _ in anchor_rounds])
    ours_first = median([per_call[0] for _, _, per_call in ours_rounds])
    ours_later = median([t for _, _, per_call in ours_rounds for t in per_call[1:]])
    anchor_per_call = median([t for _, _, per_call in anchor_rounds for t in per_call])
    result.details = {
        "calls": calls,
        "rounds": rounds,
        "ours": {"spawns": ours_spawns, "seconds": [r[2] for r in ours_rounds]},
        "azure-identity AzureCliCredential": {"spawns": anchor_spawns, "seconds": [r[2] for r in anchor_rounds]},
    }
    spawn_ratio = f"{median([float(n) for n in anchor_spawns]) / median([float(n) for n in ours_spawns]):.0f}x fewer"
    result.rows.append(
        Row(
            comparison=f"Azure CLI: `az` processes started for {calls} calls vs `AzureCliCredential`",
            ours=_show(ours_spawns),
            anchor=f"{_show(anchor_spawns)} (azure-identity)",
            ratio=spawn_ratio,
            goal="1 per token lifetime",
            met=all(n == 1 for n in ours_spawns),
        )
    )
    result.rows.append(
        Row(
            comparison=f"Azure CLI: total time of {calls} calls vs `AzureCliCredential`",
            ours=format_seconds(ours_total),
            anchor=f"{format_seconds(anchor_total)} (azure-identity)",
            ratio=times_faster(ours_total, anchor_total),
            goal="(reference)",
            met=None,
        )
    )
    print_ratio(
        f"azure cli, az spawns for {calls} calls", _show(ours_spawns), "AzureCliCredential", _show(anchor_spawns),
        spawn_ratio,
    )  # fmt: skip
    print_ratio(
        f"azure cli, {calls} calls", format_seconds(ours_total), "AzureCliCredential", format_seconds(anchor_total),
        times_faster(ours_total, anchor_total),
    )  # fmt: skip
    result.notes.append(
        f"Median of {rounds} rounds of {calls} calls each (spawns per round in brackets). Ours: first call "
        f"{format_seconds(ours_first)} (runs `az`), later calls {format_seconds(ours_later)} (cache); "
        f"`AzureCliCredential`: {format_seconds(anchor_per_call)} per call, every call runs `az`."
    )
    return result


def _show(counts: list[int]) -> str:
    return f"{median([float(n) for n in counts]):g} ({'/'.join(str(n) for n in counts)})"


def _calls(counter: Path, calls: int, call: object) -> tuple[int, float, list[float]]:
    """(az processes started, total seconds, seconds of each call) for ``calls`` calls."""
    assert callable(call)
    before = _count(counter)
    per_call = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        per_call.append(time.perf_counter() - started)
    return _count(counter) - before, sum(per_call), per_call


def _count(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def _counting_wrapper(az: Path, folder: Path, counter: Path) -> Path:
    folder.mkdir()
    script = folder / "az"
    script.write_text(f'#!/bin/sh\necho "$$" >> {shlex.quote(str(counter))}\nexec {shlex.quote(str(az))} "$@"\n')
    script.chmod(0o755)
    return folder


if __name__ == "__main__":
    run().print_summary()
