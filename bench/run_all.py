"""Run every benchmark and rewrite BENCHMARKS.md (``make bench``).

Each comparison is a script in bench/ with ``run() -> BenchResult``; BENCHMARKS below lists them in the
issue's order. A comparison whose script is not written yet, or whose subject (``requires``) does not
exist yet, is reported as "not yet measured": adding one is writing its script (and, if needed,
adjusting its entry here).

    python bench/run_all.py                   # everything; rewrites BENCHMARKS.md
    python bench/run_all.py --only cold_herd  # some; prints only (unless --output is given)
    python bench/run_all.py --json out.json   # also the raw numbers
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from _common import REPO, BenchResult, NotMeasured, Row, require  # noqa: E402 (after the path set-up)

PACKAGES = ("appauth", "azure-identity", "azure-core", "msal", "azure-keyvault-secrets", "requests", "PyJWT")


@dataclass(frozen=True)
class Benchmark:
    number: int
    script: str  # bench/<script>.py
    comparison: str  # what the table says while it is not measured
    goal: str
    requires: tuple[str, ...] = ()  # modules to import, or repository folders ("demo_sites/")


BENCHMARKS = (
    Benchmark(1, "cached_token", "Cached token: `get_access_token` vs azure-identity and msal", "≥ 30x and < 1 µs"),
    Benchmark(1, "cached_token_async", "Cached token, async: `provider.aio` vs `azure.identity.aio`", "(reference)",
              requires=("aiohttp",)),
    Benchmark(2, "cold_herd", "Cold herd: token requests from 32 threads / 32 tasks", "exactly 1"),
    Benchmark(3, "azure_cli", "Azure CLI: `az` processes for 10 calls vs `AzureCliCredential`", "1 per token lifetime"),
    Benchmark(4, "cached_secret", "Cached secret: `KeyVaultSecrets.get` vs `SecretClient.get_secret`", "< 1 µs",
              requires=("azure.keyvault.secrets",)),
    Benchmark(5, "startup_references", "Startup: 50 settings references, `resolve_all` vs a `SecretClient` loop",
              "50 in ≈ the time of 1", requires=("azure.keyvault.secrets",)),
    Benchmark(6, "request_overhead", "Request overhead: a cached secret in a Django / Flask request under gunicorn",
              "< 5% overhead", requires=("appauth_django", "appauth_flask")),
    Benchmark(7, "import_memory", "Import time and memory vs `azure.identity`", "≤ azure-identity"),
    Benchmark(8, "database_connect", "Passwordless databases: a new connection with a cached token vs a plain password",
              "within 5 %; 1 Entra request per token lifetime", requires=("sqlalchemy", "psycopg", "MySQLdb")),
    Benchmark(9, "token_validation", "Token validation: a repeated token vs PyJWT `PyJWKClient` + `jwt.decode`",
              "≥ 20x and < 5 µs; first ≤ PyJWT", requires=("appauth_core.validation",)),
    Benchmark(10, "outbound_auth", "Outbound auth: `RequestsTokenAuth` / `HttpxTokenAuth` per request vs azure-core's "
              "`BearerTokenCredentialPolicy`", "< 2 µs", requires=("httpx", "appauth_core.calls")),
)  # fmt: skip


@dataclass
class Outcome:
    benchmark: Benchmark
    result: BenchResult | None = None
    skipped: str | None = None  # why it was not measured
    error: str | None = None
    seconds: float = 0.0


def run_one(benchmark: Benchmark) -> Outcome:
    outcome = Outcome(benchmark)
    started = time.perf_counter()
    try:
        if not (BENCH / f"{benchmark.script}.py").exists():
            raise NotMeasured(f"bench/{benchmark.script}.py is not written yet")
        for needed in benchmark.requires:
            if needed.endswith("/"):  # a folder of the repository (the demo sites are not a package)
                if not (REPO / needed).is_dir():
                    raise NotMeasured(f"{needed} does not exist yet")
            else:
                require(needed)
        print(f"\n### {benchmark.number}. bench/{benchmark.script}.py", flush=True)
        outcome.result = importlib.import_module(benchmark.script).run()
    except NotMeasured as reason:
        outcome.skipped = str(reason)
        print(f"\n### {benchmark.number}. {benchmark.comparison}: not yet measured ({reason})", flush=True)
    except Exception as error:  # one broken benchmark must not hide the others
        traceback.print_exc()
        outcome.error = f"{type(error).__name__}: {error}"
    outcome.seconds = time.perf_counter() - started
    return outcome


# --- the report ------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["Azure CLI (.tools/azure-cli)"] = _azure_cli_version()
    return found


def _azure_cli_version() -> str:
    for site in sorted((REPO / ".tools" / "azure-cli" / "lib").glob("python*/site-packages")):
        for distribution in importlib.metadata.distributions(path=[str(site)]):
            if distribution.metadata["Name"] == "azure-cli":
                return str(distribution.version)
    return "not installed"


def _met(row: Row) -> str:
    return "—" if row.met is None else ("yes" if row.met else "**no**")


def render(outcomes: list[Outcome], info: dict[str, Any], packages: dict[str, str], when: dt.datetime) -> str:
    load = info["load_average"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`bench/run_all.py`) on {when:%Y-%m-%d %H:%M} UTC; rerun it rather than editing "
        "this file. Each comparison runs our code and the anchor (azure-identity, msal, the Azure CLI) side by "
        "side in one process, against the local Azure emulator started in that process (loopback HTTPS), in "
        "alternating rounds; figures are medians. How each is measured is at the top of its script in `bench/`.",
        "",
        "## Machine",
        "",
        f"- platform: {info['platform']} ({info['machine']})",
        f"- Python: {info['python']}",
        f"- CPUs: {info['cpu_count']} (usable by this process: {info['usable_cpus']})",
    ]
    if load:
        lines.append(f"- load average when the run started: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    lines += ["", "## Package versions", "", "| package | version |", "|---|---|"]
    lines += [f"| {name} | {version} |" for name, version in packages.items()]
    lines += [
        "",
        "## Results",
        "",
        "| # | comparison | ours | anchor | ratio | goal | met? |",
        "|---|---|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        number = outcome.benchmark.number
        if outcome.result is not None:
            for row in outcome.result.rows:
                cells = (str(number), row.comparison, row.ours, row.anchor, row.ratio, row.goal, _met(row))
                lines.append(f"| {' | '.join(cells)} |")
        else:
            state = "not yet measured" if outcome.skipped else "**failed**"
            lines.append(
                f"| {number} | {outcome.benchmark.comparison} | — | — | — | {outcome.benchmark.goal} | {state} |"
            )
    lines += ["", "## Details"]
    for outcome in outcomes:
        benchmark = outcome.benchmark
        if outcome.result is not None:
            lines += ["", f"### {outcome.result.title} (`bench/{benchmark.script}.py`, {outcome.seconds:.0f} s)", ""]
            lines += outcome.result.notes
        else:
            why = outcome.skipped or f"failed: {outcome.error}"
            lines += ["", f"### {benchmark.number}. {benchmark.comparison} (`bench/{benchmark.script}.py`)", "", why]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="SCRIPT", help="run only these (e.g. cached_token cold_herd)")
    parser.add_argument("--output", type=Path, help="the Markdown report (default: BENCHMARKS.md, on a full run)")
    parser.add_argument("--json", type=Path, help="also write every raw number here")
    args = parser.parse_args(argv)

    selected = [b for b in BENCHMARKS if not args.only or b.script in args.only]
    unknown = set(args.only or ()) - {b.script for b in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    when, info, packages = dt.datetime.now(dt.timezone.utc), machine(), versions()
    started = time.perf_counter()
    outcomes = [run_one(benchmark) for benchmark in selected]
    total = time.perf_counter() - started

    print("\n== Summary")
    for outcome in outcomes:
        if outcome.result is not None:
            outcome.result.print_summary()
        else:
            print(f"== {outcome.benchmark.number}. {outcome.benchmark.comparison}: {outcome.skipped or outcome.error}")
    print(f"(all benchmarks: {total:.0f} s)")

    output = args.output or (None if args.only else REPO / "BENCHMARKS.md")
    if output is not None:
        output.write_text(render(outcomes, info, packages, when))
        print(f"wrote {output}")
    if args.json is not None:
        payload = {
            "date": when.isoformat(),
            "machine": info,
            "versions": packages,
            "benchmarks": [
                {
                    "number": o.benchmark.number,
                    "script": o.benchmark.script,
                    "seconds": o.seconds,
                    "skipped": o.skipped,
                    "error": o.error,
                    "result": o.result.to_dict() if o.result else None,
                }
                for o in outcomes
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 1 if any(outcome.error for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
