"""6. Request overhead: what reading a cached secret adds to a real request, under gunicorn, loaded by wrk.

The apps in ``bench/apps/`` (a Django site and a Flask app, see its README) run under gunicorn (WORKERS
workers x THREADS threads, gthread) as they would on App Service: the emulator, started in this process,
is their Key Vault and their App Service managed identity (``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER``),
nothing else. Each app serves pairs of views that differ only by one cached secret read:

- ``/secret`` (``request.appauth.secret(name)`` / ``g.appauth.secret(name)``) vs ``/bare`` (a constant);
- ``/secret-template`` (``{% keyvault_secret name %}`` / ``{{ keyvault_secret(name) }}``) vs
  ``/bare-template`` (the same template showing a constant);
- and ``/bare`` with appauth installed (middleware / extension, on every request) vs ``/bare`` in the same
  app started without appauth (``BENCH_APPAUTH=0``).

Every path is checked once (status and body), then warmed; then ROUNDS rounds, each loading every path in
turn with ``wrk -t2 -c32 -dDURATION`` on 127.0.0.1 (bounded: DURATION seconds per run). Two figures per
path, medians: requests/second, and the server's CPU time per request (user + system time of the gunicorn
master and workers over the run, from /proc, over the requests wrk completed). The emulator's counters
show how many vault reads the whole load cost (the secret is cached in each worker).

Then, with the servers stopped, each path's cost in one process through the framework's test client
(a child process, so Django is set up there), in CPU time, rounds alternating: what the secret path adds
to its bare twin, and what the middleware / ``before_request`` hook adds to every request. The secret
paths are timed a second time with ``KeyVaultSecrets.get`` replaced on that one object by the fast path
``bench/cached_secret.py`` proposes (``_Sketch``), to show what it would save.

Goal (issue 8): under 5 % overhead. It is judged on what the in-process measurement says ours adds, as a
share of the bare view's server CPU per request under wrk: on a machine shared with other work,
requests/second moves by tens of percent from one run to the next with the neighbours' load, and the
server's CPU per request by several percent (every round's figures are in the report), which is more than
the microseconds being measured; both are still shown beside it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    BenchResult,
    NotMeasured,
    Row,
    median,
    require,
    running_emulator,
)

from appauth_core.testing.emulator import AzureEmulator

APPS = Path(__file__).resolve().parent / "apps"
ROUNDS = 5
DURATION = 3  # seconds per wrk run
WARMUP = 1  # seconds of wrk per path before the rounds
WRK = ("-t2", "-c32")
WORKERS, THREADS = 2, 4
GOAL_OVERHEAD = 0.05
READY_TIMEOUT = 60.0
SECRET_NAME = "bench-request-secret"
SECRET_VALUE = "s" * 64  # the bare views answer a constant of the same length

FRAMEWORKS = {  # name: gunicorn application
    "Django": "django_app.wsgi:application",
    "Flask": "flask_app:app",
}


@dataclass(frozen=True)
class Pair:
    label: str
    ours: tuple[str, str]  # (server, path)
    bare: tuple[str, str]
    in_process: str  # what _view_costs measured ours to add


PAIRS = (
    Pair("`{secret}` vs a bare view", ("appauth", "/secret"), ("appauth", "/bare"), "/secret"),
    Pair("template `{tag}` vs the same template with a constant", ("appauth", "/secret-template"),
         ("appauth", "/bare-template"), "/secret-template"),
    Pair("bare view, appauth installed ({installed}) vs not", ("appauth", "/bare"), ("plain", "/bare"),
         "installed"),
)  # fmt: skip
SPELLING = {
    "Django": {"secret": "request.appauth.secret(...)", "tag": "{% keyvault_secret %}", "installed": "middleware"},
    "Flask": {"secret": "g.appauth.secret(...)", "tag": "{{ keyvault_secret(...) }}", "installed": "extension"},
}


def run(rounds: int = ROUNDS, duration: int = DURATION) -> BenchResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise NotMeasured("wrk is not installed (`make tools` installs the Debian package)")
    for module in ("django", "flask", "gunicorn", "appauth_django", "appauth_flask"):
        require(module)
    result = BenchResult("request_overhead", "6. Request overhead: a cached secret in a real request")
    with running_emulator() as emulator, tempfile.TemporaryDirectory(prefix="appauth-bench-sites-") as scratch:
        emulator.vault.set_secret(SECRET_NAME, SECRET_VALUE)
        with ExitStack() as stack:
            sites: dict[tuple[str, str], Site] = {}
            for framework, application in FRAMEWORKS.items():
                for server, with_appauth in (("appauth", True), ("plain", False)):
                    log = Path(scratch) / f"{framework}-{server}.log"
                    sites[(framework, server)] = stack.enter_context(
                        _gunicorn(application, _site_env(emulator, with_appauth), log)
                    )
            targets = _targets(sites)
            for url, (_, expected) in targets.items():
                _check(url, expected)
            for url, (site, _) in targets.items():
                _load(wrk, url, site, WARMUP)
            emulator.counters.reset()
            runs: dict[str, list[dict[str, Any]]] = {url: [] for url in targets}
            for _ in range(rounds):
                for url, (site, _) in targets.items():
                    runs[url].append(_load(wrk, url, site, duration))
            vault_reads = emulator.counters[f"keyvault.{emulator.vault.name}.get_secret"]
            token_requests = emulator.counters["mi"]
        view_costs = _measure_view_costs(emulator)  # the servers are stopped: this has the cores to itself

    rps = {url: median([r["requests_per_second"] for r in samples]) for url, samples in runs.items()}
    cpu = {url: median([r["server_cpu_per_request_seconds"] for r in samples]) for url, samples in runs.items()}
    result.details = {
        "rounds": rounds,
        "duration_seconds": duration,
        "wrk": [*WRK, f"-d{duration}s"],
        "gunicorn": {"workers": WORKERS, "threads": THREADS, "worker_class": "gthread"},
        "runs": runs,
        "median_requests_per_second": rps,
        "median_server_cpu_per_request_seconds": cpu,
        "vault_get_secret_requests_during_load": vault_reads,
        "managed_identity_requests_during_load": token_requests,
    }
    for framework in FRAMEWORKS:
        for pair in PAIRS:
            ours_url = sites[(framework, pair.ours[0])].base + pair.ours[1]
            bare_url = sites[(framework, pair.bare[0])].base + pair.bare[1]
            share = rps[ours_url] / rps[bare_url]
            cpu_overhead = cpu[ours_url] / cpu[bare_url] - 1.0
            added = _added_seconds(view_costs, framework, pair)
            estimate = None if added is None else added / cpu[bare_url]
            overhead = cpu_overhead if estimate is None else estimate
            label = pair.label.format(**SPELLING[framework])
            in_process = "" if added is None else f"; adds {added * 1e6:.1f} µs = {estimate:+.1%}"
            result.rows.append(
                Row(
                    comparison=f"Request overhead, {framework}: {label}",
                    ours=f"{rps[ours_url]:,.0f} req/s, {cpu[ours_url] * 1e6:.0f} µs CPU/req",
                    anchor=f"{rps[bare_url]:,.0f} req/s, {cpu[bare_url] * 1e6:.0f} µs CPU/req (bare)",
                    ratio=f"req/s x{share:.3f}; CPU/req {cpu_overhead:+.1%}{in_process}",
                    goal=f"< {GOAL_OVERHEAD:.0%} overhead",
                    met=overhead < GOAL_OVERHEAD,
                )
            )
            print(
                f"request overhead, {framework}, {label}: ours {rps[ours_url]:,.0f} req/s vs bare "
                f"{rps[bare_url]:,.0f} req/s -> x{share:.3f}; server CPU per request {cpu[ours_url] * 1e6:.0f} µs "
                f"vs {cpu[bare_url] * 1e6:.0f} µs -> {cpu_overhead:+.1%}{in_process}",
                flush=True,
            )
    result.notes.append(
        f"gunicorn {WORKERS} workers x {THREADS} threads (gthread) per app; `wrk {' '.join(WRK)} -d{duration}s` on "
        f"127.0.0.1, {rounds} rounds, each loading every path in turn; medians. Three figures per pair. "
        "*req/s*: ours / bare, as wrk counts them. *CPU/req*: the server's CPU time per request (user + system "
        "time of the gunicorn master and workers over the run, from /proc, over the requests wrk completed), ours "
        "vs bare. *adds*: what ours adds to a request, measured in one process through the framework's test client "
        "(table below), as a share of the bare view's server CPU per request. The goal is judged on *adds*: on "
        "this shared 2-CPU machine req/s moves by tens of percent from run to run with the neighbours' load, and "
        "the server's CPU per request by several percent (per round below), more than the few microseconds "
        "being measured; the in-process difference is taken in CPU time, which the neighbours' load moves far less. "
        f"Vault `get_secret` requests during the whole load: {vault_reads} (each worker process reads the secret "
        f"once, during the warm-up, then serves it from its cache); managed-identity token requests: "
        f"{token_requests}."
    )
    result.notes += ["", "| path | req/s per round | µs CPU/req per round |", "|---|---|---|"]
    for (framework, server), site in sites.items():
        for path in _paths(server):
            samples = runs[site.base + path]
            per_round = " / ".join(f"{r['requests_per_second']:,.0f}" for r in samples)
            cpu_round = " / ".join(f"{r['server_cpu_per_request_seconds'] * 1e6:.0f}" for r in samples)
            where = "" if server == "appauth" else " (without appauth)"
            result.notes.append(f"| {framework} `{path}`{where} | {per_round} | {cpu_round} |")
    if view_costs is not None:
        result.details["view_costs_in_process"] = view_costs
        result.notes.extend(_view_cost_notes(view_costs))
    return result


def _added_seconds(costs: dict[str, Any] | None, framework: str, pair: Pair) -> float | None:
    if costs is None:
        return None
    added: float = (
        costs[framework]["installed"] if pair.in_process == "installed" else costs[framework]["added"][pair.in_process]
    )
    return added


def _load(wrk: str, url: str, site: Site, duration: int) -> dict[str, Any]:
    """One wrk run, with the server's CPU time over it."""
    before = _server_cpu_seconds(site.pid)
    outcome = _wrk(wrk, url, duration)
    used = _server_cpu_seconds(site.pid) - before
    outcome["server_cpu_seconds"] = used
    outcome["server_cpu_per_request_seconds"] = used / max(outcome["requests"], 1)
    return outcome


def _server_cpu_seconds(master: int) -> float:
    """User + system CPU seconds of a gunicorn master and its live workers (/proc/<pid>/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        pid, ppid = int(entry.name), int(fields[1])
        if pid == master or ppid == master:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# --- the servers ---------------------------------------------------------------------------------------


def _paths(server: str) -> tuple[str, ...]:
    if server == "appauth":
        return ("/bare", "/secret", "/bare-template", "/secret-template")
    return ("/bare",)


def _targets(sites: dict[tuple[str, str], Site]) -> dict[str, tuple[Site, str]]:
    """Every URL to load, with its site and the text its answer must contain."""
    targets = {}
    for (_, server), site in sites.items():
        for path in _paths(server):
            targets[site.base + path] = (site, SECRET_VALUE if "secret" in path else "c" * 64)
    return targets


def _site_env(emulator: AzureEmulator, with_appauth: bool) -> dict[str, str]:
    """A clean environment plus what App Service gives a site (the emulator's managed identity, its CA)
    and the app settings."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return {
        **keep,
        **emulator.process_env(),
        "BENCH_VAULT_URL": emulator.vault.url,
        "BENCH_SECRET_NAME": SECRET_NAME,
        "BENCH_CONSTANT": "c" * 64,
        "BENCH_APPAUTH": "1" if with_appauth else "0",
        "PYTHONPATH": str(APPS),
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Site:
    base: str  # http://127.0.0.1:<port>
    pid: int  # the gunicorn master's


@contextmanager
def _gunicorn(application: str, env: dict[str, str], log: Path) -> Iterator[Site]:
    """gunicorn serving ``application`` on a free loopback port, once /bare answers."""
    port = _free_port()
    command = [
        sys.executable, "-m", "gunicorn", application, "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS),
        "--threads", str(THREADS), "--chdir", str(APPS), "--graceful-timeout", "5", "--timeout", "30",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed command line
            command, env=env, cwd=APPS, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn {application} exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/bare", timeout=5) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {application} did not answer within {READY_TIMEOUT:.0f} s")
            time.sleep(0.1)
        yield Site(base, process.pid)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _check(url: str, expected: str) -> None:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
        body = response.read().decode()
        if response.status != 200 or expected not in body:
            raise RuntimeError(f"{url} answered {response.status} without the expected text: {body[:200]!r}")


# --- wrk -------------------------------------------------------------------------------------------------

_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_P50 = re.compile(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _wrk(wrk: str, url: str, duration: int) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603 - wrk on a loopback URL, bounded in time
        [wrk, *WRK, f"-d{duration}s", "--latency", url],
        capture_output=True, text=True, timeout=duration + 60, check=False,
    )  # fmt: skip
    output = completed.stdout
    rps, total = _RPS.search(output), _TOTAL.search(output)
    if completed.returncode != 0 or rps is None or total is None:
        raise RuntimeError(f"wrk {url} failed ({completed.returncode}): {output[-800:]} {completed.stderr[-800:]}")
    non_2xx = _NON_2XX.search(output)
    if non_2xx is not None and int(non_2xx.group(1)):
        raise RuntimeError(f"wrk {url}: {non_2xx.group(1)} answers were not 2xx/3xx")
    errors = _SOCKET_ERRORS.search(output)
    p50 = _P50.search(output)
    return {
        "requests_per_second": float(rps.group(1)),
        "requests": int(total.group(1)),
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True))
        if errors
        else {},
        "latency_p50_seconds": float(p50.group(1)) * _UNITS[p50.group(2)] if p50 else None,
    }


# --- where the time goes: each view in one process, no server, no network ------------------------------

VIEW_ROUNDS = 15
VIEW_CALLS = 400


def _measure_view_costs(emulator: AzureEmulator) -> dict[str, Any] | None:
    """Each path's cost through the framework's test client, in a child process (Django is set up there,
    not in the benchmark runner): what one request costs the app's code, with no server, network or
    neighbours in the figure. The secret paths run twice: with ``KeyVaultSecrets.get`` as it is, and with
    the memoised-key fast path measured by ``bench/cached_secret.py`` (``_Sketch``) in its place."""
    env = {**_site_env(emulator, True), "PYTHONPATH": os.pathsep.join([str(APPS), str(APPS.parent)])}
    completed = subprocess.run(  # noqa: S603 - this interpreter, this script
        [sys.executable, __file__, "--view-costs"], env=env, cwd=APPS, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        print(f"view costs not measured: {completed.stderr[-1500:]}", flush=True)
        return None
    costs: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return costs


def _view_costs() -> dict[str, Any]:
    """In the child: CPU seconds per request of each path, per framework, rounds alternating; and what each
    secret path adds to its bare twin."""
    import django
    import flask_app
    from cached_secret import _Sketch
    from django.test import Client

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app.settings")
    django.setup()
    from appauth_django.conf import get_services

    clients: dict[str, tuple[Any, Any]] = {
        "Django": (Client(HTTP_HOST="127.0.0.1"), get_services().secrets),
        "Flask": (flask_app.app.test_client(), flask_app.app.extensions["appauth"].secrets),
    }
    cases = {  # label: (path, with the proposal?)
        "/bare": ("/bare", False),
        "/secret": ("/secret", False),
        "/secret, proposal": ("/secret", True),
        "/bare-template": ("/bare-template", False),
        "/secret-template": ("/secret-template", False),
        "/secret-template, proposal": ("/secret-template", True),
    }
    results: dict[str, Any] = {}
    for framework, (client, secrets) in clients.items():
        today, proposal = secrets.get, _Sketch(secrets).get
        samples: dict[str, list[float]] = {label: [] for label in cases}
        for path, _ in cases.values():
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{framework} {path} answered {response.status_code}")
        for _ in range(VIEW_ROUNDS):
            for label, (path, with_proposal) in cases.items():
                secrets.get = proposal if with_proposal else today  # the instance attribute shadows the method
                timer = timeit.Timer(lambda get=client.get, path=path: get(path), timer=time.process_time)
                samples[label].append(timer.timeit(VIEW_CALLS) / VIEW_CALLS)
        secrets.get = today
        results[framework] = {
            "per_request": {label: median(values) for label, values in samples.items()},
            "added": {  # ours less its bare twin, round by round (adjacent in time), then the median
                label: median([a - b for a, b in zip(values, samples[_twin(label)], strict=True)])
                for label, values in samples.items()
                if label != _twin(label)
            },
        }
    results["Django"]["installed"] = _django_middleware_seconds()
    results["Flask"]["installed"] = _flask_hook_seconds(flask_app.app)
    return results


def _twin(label: str) -> str:
    return "/bare-template" if "template" in label else "/bare"


def _django_middleware_seconds() -> float:
    """What ``AppAuthMiddleware`` adds to a request: its call around a view that does nothing, less the
    bare call."""
    from django.test import RequestFactory

    from appauth_django.middleware import AppAuthMiddleware

    request = RequestFactory(HTTP_HOST="127.0.0.1").get("/bare")

    def respond(request: Any) -> None:
        return None

    middleware = AppAuthMiddleware(respond)
    timers = {
        "with": timeit.Timer(lambda: middleware(request), timer=time.process_time),
        "without": timeit.Timer(lambda: respond(request), timer=time.process_time),
    }
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(VIEW_ROUNDS):
        for name, timer in timers.items():
            samples[name].append(timer.timeit(100 * VIEW_CALLS) / (100 * VIEW_CALLS))
    return median(samples["with"]) - median(samples["without"])


def _flask_hook_seconds(app: Any) -> float:
    """What the extension adds to a request: ``preprocess_request`` runs its ``before_request`` hook (the
    only one in this app), an upper bound of the hook alone."""
    with app.test_request_context("/bare"):
        timer = timeit.Timer(app.preprocess_request, timer=time.process_time)
        return median([timer.timeit(100 * VIEW_CALLS) / (100 * VIEW_CALLS) for _ in range(VIEW_ROUNDS)])


def _view_cost_notes(costs: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Where the time goes: each path through the framework's test client in one process (no server, no "
        f"network; {VIEW_ROUNDS} alternating rounds of {VIEW_CALLS:,} requests, CPU time of the process, which "
        "time spent waiting for a core does not add to). *added*: the path less its bare twin measured just "
        "before it in the same round, median over the rounds. *proposal*: the same request with "
        "`KeyVaultSecrets.get` replaced, on that one object, by the memoised-key fast path that "
        "`bench/cached_secret.py` measures (`_Sketch`; not appauth_core code).",
        "",
        "| framework | path | CPU µs per request (median) | added (median of rounds) |",
        "|---|---|---|---|",
    ]
    for framework in FRAMEWORKS:
        for label, seconds in costs[framework]["per_request"].items():
            added = costs[framework]["added"].get(label)
            shown = "" if added is None else f"{added * 1e6:+.1f} µs"
            lines.append(f"| {framework} | `{label}` | {seconds * 1e6:.1f} | {shown} |")
    hooks = {"Django": "`AppAuthMiddleware` around a view", "Flask": "`before_request` hook (`preprocess_request`)"}
    for framework, what in hooks.items():
        lines.append(f"| {framework} | {what} | | {costs[framework]['installed'] * 1e6:+.2f} µs (every request) |")
    return lines


if __name__ == "__main__":
    if sys.argv[1:] == ["--view-costs"]:
        print(json.dumps(_view_costs()))
    else:
        run().print_summary()
