"""The demo sites under real servers and real load: gunicorn (sync, gthread, sync with ``--preload``) and
uvicorn, four workers each, driven by ``wrk`` on loopback while tokens expire and Key Vault goes down.

A run: start the emulator with short token lifetimes, start the server on the demo site with a short
secret TTL, wait until ``/api/status`` answers, then let ``wrk`` hit ``/api/status`` with many connections;
part-way through, every Key Vault request answers 503 for a while. ``Run`` holds what ``wrk`` and the
emulator saw. ``wrk`` is the load generator the issue names; its Lua ``done`` hook prints the summary as
JSON, so nothing parses its human-readable report.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from appauth_core.testing import AzureEmulator
from demo_sites.run import DEMO_SECRETS, site_env
from tests.conftest import REPO, _free_port, stop_process

WORKERS = 4
LOAD_SECTION_START = "<!-- load figures: written by tests/hardening/test_load_servers.py (make hardening) -->"
LOAD_SECTION_END = "<!-- end of load figures -->"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
OUTAGE_BODY = {"error": {"code": "ServiceUnavailable", "message": "The service is unavailable (load test outage)."}}

SITES = {  # site -> (WSGI app, ASGI app)
    "Django": ("demo_sites.django_site.wsgi:application", "demo_sites.django_site.asgi:application"),
    "Flask": ("demo_sites.flask_site.app:app", "demo_sites.flask_site.asgi:application"),
}
SERVERS = ("gunicorn sync", "gunicorn gthread", "gunicorn sync --preload", "uvicorn")

WRK_SUMMARY = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"p50_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


@dataclass(frozen=True)
class Plan:
    clients: int
    seconds: int
    token_lifetime: int  # the emulator's: the cache refreshes half-way through a short lifetime
    secret_ttl: int
    outage: tuple[float, float]  # Key Vault answers 503 from .. to (seconds into the run)

    @property
    def token_refreshes(self) -> int:
        """Refreshes per token a worker can need in the run (one per half lifetime) plus its first fetch."""
        return 1 + math.ceil(self.seconds / (self.token_lifetime / 2))


@dataclass
class Run:
    server: str
    site: str
    plan: Plan
    wrk: dict[str, float]
    token_requests: int  # to the managed-identity endpoint, during the run
    vault_requests: int
    vault_requests_in_outage: int
    tls_errors: int  # TLS records the emulator could not decrypt: a connection shared across processes
    log: str

    def __repr__(self) -> str:  # the log is long; the assertion messages show its tail where it matters
        return f"Run({self.site}, {self.server}: {self.wrk}, tokens {self.token_requests}, vault {self.vault_requests})"

    @property
    def failed(self) -> int:
        return sum(int(self.wrk[key]) for key in ("connect", "read", "write", "status", "timeout"))

    @property
    def token_request_bound(self) -> int:
        return WORKERS * 2 * self.plan.token_refreshes  # two tokens per worker: ARM and Key Vault

    def row(self) -> str:
        rate = self.wrk["requests"] / (self.wrk["duration_us"] / 1e6)
        return (
            f"| {self.site} | {self.server} | {int(self.wrk['requests']):,} | {rate:,.0f} | {self.failed} | "
            f"{self.wrk['p50_ms']:.1f} / {self.wrk['p99_ms']:.1f} / {self.wrk['max_ms']:.0f} | "
            f"{self.token_requests} (bound {self.token_request_bound}) | {self.vault_requests} "
            f"({self.vault_requests_in_outage} in the outage) |"
        )


def server_command(server: str, site: str, port: int) -> list[str]:
    wsgi, asgi = SITES[site]
    bind = f"127.0.0.1:{port}"
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", asgi, "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(WORKERS), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    command = [sys.executable, "-m", "gunicorn", wsgi, "--bind", bind, "--workers", str(WORKERS),
               "--timeout", "60", "--graceful-timeout", "5", "--no-control-socket"]  # fmt: skip
    if server == "gunicorn gthread":
        command += ["--worker-class", "gthread", "--threads", "8"]
    if server.endswith("--preload"):
        command.append("--preload")
    return command


def run_load(server: str, site: str, plan: Plan, workdir: Path) -> Run:
    with AzureEmulator() as emulator:
        emulator.configure(managed_identity_token_lifetime=plan.token_lifetime)  # 24 h by default, as Azure's
        for name, value in DEMO_SECRETS.items():
            emulator.vault.set_secret(name, value)
        env = site_env(emulator, "https://127.0.0.1:1/devstoreaccount1", plan.secret_ttl)  # no storage needed
        port = _free_port()
        log = workdir / f"{site}-{server.replace(' ', '_')}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                server_command(server, site, port), cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/api/status"
            _wait_until_serving(url, process, log)
            return _drive(server, site, plan, emulator, url, log, workdir)
        finally:
            stop_process(process, STOP_TIMEOUT)


def _drive(server: str, site: str, plan: Plan, emulator: AzureEmulator, url: str, log: Path, workdir: Path) -> Run:
    script = workdir / "summary.lua"
    script.write_text(WRK_SUMMARY)
    tokens_before, vault_before = emulator.counters["mi"], emulator.counters["keyvault"]
    command = ["wrk", "--threads", "2", "--connections", str(plan.clients), "--duration", f"{plan.seconds}s",
               "--timeout", "10s", "--script", str(script), url]  # fmt: skip
    started = time.monotonic()
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(max(plan.outage[0] - (time.monotonic() - started), 0))
        outage_before = emulator.counters["keyvault"]
        emulator.faults.inject("keyvault", status=503, body=OUTAGE_BODY, times=10**9)
        time.sleep(max(plan.outage[1] - (time.monotonic() - started), 0))
        emulator.faults.clear()
        outage_requests = emulator.counters["keyvault"] - outage_before
        output, _ = wrk.communicate(timeout=plan.seconds + 60)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.communicate()
    summary = json.loads(output.strip().splitlines()[-1])
    return Run(
        server=server,
        site=site,
        plan=plan,
        wrk=summary,
        token_requests=emulator.counters["mi"] - tokens_before,
        vault_requests=emulator.counters["keyvault"] - vault_before,
        vault_requests_in_outage=outage_requests,
        tls_errors=emulator.counters["tls_errors"],
        log=log.read_text(errors="replace"),
    )


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within {READY_TIMEOUT:.0f} s:\n{log.read_text()[-4000:]}")
