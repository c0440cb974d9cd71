"""The demo sites under real servers and wrk: zero failed requests while tokens expire and refresh
mid-run and Key Vault is down for a while, a bounded number of token requests, and ``--preload`` (fork
after import) as safe as the rest.

``make test`` runs a short sample (100 clients, 8 s); ``make hardening`` the full run (200 clients, 60 s
per server and site), which writes its figures into docs/RELIABILITY.md.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .load_servers import LOAD_SECTION_END, LOAD_SECTION_START, SERVERS, SITES, WORKERS, Plan, Run, run_load

REPO = Path(__file__).resolve().parents[2]
RELIABILITY = REPO / "docs" / "RELIABILITY.md"

SAMPLE = Plan(clients=100, seconds=8, token_lifetime=4, secret_ttl=1, outage=(3.0, 5.0))
FULL = Plan(clients=200, seconds=60, token_lifetime=20, secret_ttl=5, outage=(24.0, 36.0))

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make test installs it)")
CASES = [pytest.param(server, site, id=f"{site}-{server}") for site in SITES for server in SERVERS]


def check(run: Run) -> None:
    assert run.wrk["requests"] > run.plan.seconds, run.wrk  # it did serve (at least one request a second)
    assert run.failed == 0, f"{run.failed} failed requests: {run.wrk}\n{run.log[-3000:]}"
    assert run.vault_requests_in_outage > 0, "the outage was never felt: no Key Vault request fell into it"
    # At most one request per token per refresh in each worker (single flight across threads and requests),
    # and more than the first fetches alone: tokens were refreshed during the run.
    assert 2 * WORKERS < run.token_requests <= run.token_request_bound, run.token_requests
    assert "Traceback" not in run.log, run.log[-3000:]
    # No TLS connection shared across forked workers (--preload): azure-core's retries would hide the failed
    # reads from wrk, the emulator still sees the records that do not decrypt.
    assert run.tls_errors == 0, f"{run.tls_errors} TLS records did not decrypt"
    assert "SSL" not in run.log, run.log[-3000:]


@pytest.mark.parametrize(("server", "site"), CASES)
def test_sample_load(server: str, site: str, tmp_path: Path) -> None:
    check(run_load(server, site, SAMPLE, tmp_path))


@pytest.mark.long
@pytest.mark.parametrize(("server", "site"), CASES)
def test_full_load(server: str, site: str, tmp_path: Path) -> None:
    run = run_load(server, site, FULL, tmp_path)
    record(run)  # figures of a failed run are published too: the table is the record, the assert the gate
    check(run)


def record(run: Run) -> None:
    """Put this run's row into the load section of docs/RELIABILITY.md (other rows stay)."""
    text = RELIABILITY.read_text() if RELIABILITY.exists() else ""
    rows: dict[str, str] = {}
    if LOAD_SECTION_START in text:
        before, rest = text.split(LOAD_SECTION_START, 1)
        section, after = rest.split(LOAD_SECTION_END, 1) if LOAD_SECTION_END in rest else (rest, "")
        for line in section.splitlines():
            match = re.match(r"\| (\w+) \| ([^|]+?) \|", line)
            if match and match.group(1) in SITES:
                rows[f"{match.group(1)}/{match.group(2)}"] = line
    else:
        before, after = text.rstrip("\n") + "\n\n", ""
    rows[f"{run.site}/{run.server}"] = run.row()
    ordered = [rows[key] for key in (f"{s}/{v}" for s in SITES for v in SERVERS) if key in rows]
    plan = run.plan
    section = "\n".join(
        [
            "",
            "## Load: the demo sites under real servers",
            "",
            f"`wrk` with {plan.clients} connections for {plan.seconds} s against `/api/status` (a cached ARM "
            f"token and a cached Key Vault secret per request), {WORKERS} workers per server. Tokens live "
            f"{plan.token_lifetime} s, so each worker refreshes each token about every {plan.token_lifetime / 2:g} s;"
            f" secrets are re-read every {plan.secret_ttl} s; Key Vault answers 503 to everything from "
            f"{plan.outage[0]:g} s to {plan.outage[1]:g} s. Failed = connection, read, write and timeout errors "
            "plus non-2xx answers. The token bound is workers x 2 tokens x (1 + refreshes in the run). Latency "
            "in ms: p50 / p99 / max. Machine: shared, 2 cores, wrk on the same cores.",
            "",
            "| Site | Server | Requests | Req/s | Failed | Latency (ms) | Token requests | Key Vault requests |",
            "|---|---|---:|---:|---:|---|---:|---:|",
            *ordered,
            "",
        ]
    )
    RELIABILITY.write_text(before + LOAD_SECTION_START + section + LOAD_SECTION_END + after)
