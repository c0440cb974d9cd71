"""7. What importing the library costs: ``import appauth_core`` vs ``import azure.identity``.

Each figure comes from a fresh Python process (this venv's), which reads its own resident set size
(``VmRSS`` in /proc/self/status) and ``time.perf_counter()`` just before and just after the import; the
helpers it needs (json, importlib) are imported first so they are not counted. One unmeasured warm-up run
per module writes the bytecode caches; then ROUNDS alternating runs per module, medians.

Issue 8 sets no number here; the goal written in the table is "no heavier than azure-identity".
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from _common import BenchResult, Row, format_seconds, median, print_ratio, times_faster

ROUNDS = 7
TIMEOUT = 60
MODULES = {"ours": "appauth_core", "anchor": "azure.identity"}

_PROBE = """
import importlib, json, resource, sys, time

def rss_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # peak, in KiB on Linux

modules, rss, started = len(sys.modules), rss_kib(), time.perf_counter()
importlib.import_module(sys.argv[1])
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rss_kib": rss_kib() - rss, "modules": len(sys.modules) - modules}))
"""


def measure(module: str) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603 (this interpreter, a fixed probe)
        [sys.executable, "-c", _PROBE, module], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {completed.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def run(rounds: int = ROUNDS) -> BenchResult:
    result = BenchResult("import_memory", "7. Import time and memory")
    for module in MODULES.values():
        measure(module)  # warm-up: bytecode caches
    samples: dict[str, list[dict[str, Any]]] = {side: [] for side in MODULES}
    for _ in range(rounds):
        for side, module in MODULES.items():
            samples[side].append(measure(module))
    figures = {
        side: {
            key: median([float(sample[key]) for sample in samples[side]]) for key in ("seconds", "rss_kib", "modules")
        }
        for side in MODULES
    }
    result.details = {"rounds": rounds, "modules": MODULES, "samples": samples, "medians": figures}
    ours, anchor = figures["ours"], figures["anchor"]

    time_ratio = times_faster(ours["seconds"], anchor["seconds"])
    result.rows.append(
        Row(
            comparison="Import time: `import appauth_core` vs `import azure.identity`",
            ours=format_seconds(ours["seconds"]),
            anchor=f"{format_seconds(anchor['seconds'])} (azure-identity)",
            ratio=time_ratio,
            goal="≤ azure-identity",
            met=ours["seconds"] <= anchor["seconds"],
        )
    )
    memory_ratio = _memory_ratio(ours["rss_kib"], anchor["rss_kib"])
    result.rows.append(
        Row(
            comparison="Import memory (RSS growth): `appauth_core` vs `azure.identity`",
            ours=f"{ours['rss_kib'] / 1024:.1f} MiB",
            anchor=f"{anchor['rss_kib'] / 1024:.1f} MiB (azure-identity)",
            ratio=memory_ratio,
            goal="≤ azure-identity",
            met=ours["rss_kib"] <= anchor["rss_kib"],
        )
    )
    print_ratio("import time", format_seconds(ours["seconds"]), "azure.identity", format_seconds(anchor["seconds"]),
                time_ratio)  # fmt: skip
    print_ratio("import RSS growth", f"{ours['rss_kib'] / 1024:.1f} MiB", "azure.identity",
                f"{anchor['rss_kib'] / 1024:.1f} MiB", memory_ratio)  # fmt: skip
    extra = only_ours()
    result.details["imports_only_ours_pays_us"] = extra
    result.notes.append(
        f"Fresh process per sample, {rounds} alternating rounds, medians. Modules loaded by the import: "
        f"{ours['modules']:.0f} (appauth_core) vs {anchor['modules']:.0f} (azure.identity). Issue 8 sets no "
        "number for this comparison; the goal shown is ours being no heavier than azure-identity."
    )
    if extra:
        result.notes += [
            "",
            "Imports that `appauth_core` pulls in and `azure.identity` does not (one `-X importtime` run,",
            "cumulative, by the appauth module that imports them):",
            "",
        ]
        result.notes += ["| module | imported by | ms |", "|---|---|---|"]
        result.notes += [f"| `{row['module']}` | `{row['imported_by']}` | {row['us'] / 1000:.1f} |" for row in extra]
    return result


def _importtime(module: str) -> list[tuple[str, int, str | None]]:
    """(module, cumulative µs, the module that imported it) for each line of ``-X importtime``."""
    completed = subprocess.run(  # noqa: S603 (this interpreter, a fixed command)
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    lines: list[tuple[str, int, int]] = []
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative_text, raw_name = line.split("|")
        depth = (len(raw_name) - len(raw_name.lstrip(" "))) // 2
        lines.append((raw_name.strip(), int(cumulative_text), depth))
    # The output is post-order (a module's line comes after its imports'): its importer is the next line
    # with a smaller depth, found by walking backwards with a stack.
    rows: list[tuple[str, int, str | None]] = []
    stack: list[tuple[int, str]] = []
    for name, cumulative, depth in reversed(lines):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        rows.append((name, cumulative, stack[-1][1] if stack else None))
        stack.append((depth, name))
    return rows


def only_ours() -> list[dict[str, Any]]:
    """The subtrees only appauth_core imports, at the point where they branch off (heaviest first)."""
    ours, anchor = _importtime(MODULES["ours"]), _importtime(MODULES["anchor"])
    shared = {name for name, _, _ in anchor}

    def ours_or_shared(name: str | None) -> bool:
        return name is not None and (name in shared or name.split(".")[0] == MODULES["ours"])

    rows: list[dict[str, Any]] = [
        {"module": name, "imported_by": importer, "us": cumulative}
        for name, cumulative, importer in ours
        if name not in shared and name.split(".")[0] != MODULES["ours"] and ours_or_shared(importer)
    ]
    rows.sort(key=lambda row: row["us"], reverse=True)
    return rows[:10]


def _memory_ratio(ours_kib: float, anchor_kib: float) -> str:
    if ours_kib <= 0 or anchor_kib <= 0:
        return "n/a"
    ratio = anchor_kib / ours_kib
    return f"{ratio:.2f}x less" if ratio >= 1 else f"{1 / ratio:.2f}x more"


if __name__ == "__main__":
    run().print_summary()
