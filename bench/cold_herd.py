"""2. A cold herd: 32 threads (or 32 asyncio tasks) ask for the same token at the same moment.

Every request to the emulator's token endpoint is held for DELAY seconds, so the whole herd arrives while
the first request is still in flight. The figure is the number of token requests the emulator received
(``counters["entra.token"]``), per round, on a fresh cache and fresh credentials each round.

Ours: ``get_access_token`` from threads, ``get_access_token_async`` from tasks. Anchors: azure-identity's
``ClientSecretCredential`` (threads) and ``azure.identity.aio.ClientSecretCredential`` (tasks), msal's
``ConfidentialClientApplication.acquire_token_for_client`` (threads). Goal (issue 8): ours exactly 1.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msal
from _common import (
    VAULT,
    VAULT_SCOPE,
    BenchResult,
    Row,
    client_secret_connection_string,
    median,
    running_emulator,
)
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential

from appauth_core import AzureServiceTokenProvider
from appauth_core.testing.emulator import AzureEmulator
from appauth_core.tokens import TokenCache

HERD = 32
ROUNDS = 3
DELAY = 0.25  # seconds each token request is held at the emulator
JOIN_TIMEOUT = 30.0


def run(herd: int = HERD, rounds: int = ROUNDS) -> BenchResult:
    result = BenchResult("cold_herd", f"2. Cold herd: {herd} concurrent callers, empty cache")
    with running_emulator() as emulator:
        transport_name, make_transport = _async_transport()
        scenarios: dict[str, Callable[[], object]] = {
            "ours, threads": lambda: _threads(herd, _ours(emulator).get_access_token, VAULT),
            "ours, asyncio tasks": lambda: _tasks(herd, lambda: _ours(emulator).get_access_token_async, VAULT),
            "azure-identity ClientSecretCredential, threads": lambda: _threads(
                herd, _identity(emulator).get_token, VAULT_SCOPE
            ),
            "azure.identity.aio ClientSecretCredential, asyncio tasks": lambda: _identity_tasks(
                emulator, herd, make_transport
            ),
            "msal ConfidentialClientApplication, threads": lambda: _msal_threads(emulator, herd),
        }
        counts: dict[str, list[int]] = {name: [] for name in scenarios}
        seconds: dict[str, list[float]] = {name: [] for name in scenarios}
        for _ in range(rounds):
            for name, scenario in scenarios.items():
                started = time.perf_counter()
                counts[name].append(_upstream_requests(emulator, scenario))
                seconds[name].append(time.perf_counter() - started)
        result.details = {"herd": herd, "rounds": rounds, "delay_seconds": DELAY, "token_requests": counts}
        result.details["seconds_until_all_served"] = seconds
        result.details["async_transport"] = transport_name

    pairs = [
        ("threads", "ours, threads", "azure-identity ClientSecretCredential, threads", "azure-identity"),
        ("asyncio tasks", "ours, asyncio tasks", "azure.identity.aio ClientSecretCredential, asyncio tasks",
         "azure.identity.aio"),
        ("threads", "ours, threads", "msal ConfidentialClientApplication, threads", "msal CCA"),
    ]  # fmt: skip
    for kind, ours_name, anchor_name, anchor_label in pairs:
        ours, anchor = counts[ours_name], counts[anchor_name]
        ours_median, anchor_median = median([float(n) for n in ours]), median([float(n) for n in anchor])
        ratio = f"{anchor_median / ours_median:.0f}x fewer requests" if ours_median else "n/a"
        result.rows.append(
            Row(
                comparison=f"Cold herd, {herd} {kind}: token requests vs {anchor_label}",
                ours=_show(ours),
                anchor=f"{_show(anchor)} ({anchor_label})",
                ratio=ratio,
                goal="exactly 1",
                met=all(n == 1 for n in ours),
            )
        )
        print(
            f"cold herd, {herd} {kind}: ours {_show(ours)} vs {anchor_name} {_show(anchor)} token requests -> {ratio}",
            flush=True,
        )
    result.notes.append(
        f"Token requests the emulator received, median (each of {rounds} rounds); every token request held "
        f"{DELAY} s at the emulator; fresh cache and credentials per round. azure.identity.aio ran on "
        f"{transport_name}. Wall time until the whole herd was served (median): "
        + ", ".join(f"{name} {median(values):.2f} s" for name, values in seconds.items())
        + "."
    )
    return result


def _show(counts: list[int]) -> str:
    return f"{median([float(n) for n in counts]):g} ({'/'.join(str(n) for n in counts)})"


def _upstream_requests(emulator: AzureEmulator, scenario: Callable[[], object]) -> int:
    emulator.counters.reset()
    emulator.faults.inject("entra.token", delay=DELAY, times=4 * HERD)
    try:
        scenario()
    finally:
        emulator.faults.clear()
    return emulator.counters["entra.token"]


# --- the callers -------------------------------------------------------------------------------------


def _ours(emulator: AzureEmulator) -> AzureServiceTokenProvider:
    return AzureServiceTokenProvider(client_secret_connection_string(emulator), emulator.authority, cache=TokenCache())


def _identity(emulator: AzureEmulator) -> ClientSecretCredential:
    return ClientSecretCredential(
        emulator.tenant_id,
        emulator.app.app_id,
        emulator.app.secrets[0],
        authority=emulator.authority,
        disable_instance_discovery=True,
    )


def _cca(emulator: AzureEmulator) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        emulator.app.app_id,
        client_credential=emulator.app.secrets[0],
        authority=f"{emulator.authority}{emulator.tenant_id}",
        instance_discovery=False,
        validate_authority=False,
    )


def _msal_threads(emulator: AzureEmulator, herd: int) -> None:
    cca = _cca(emulator)  # one application shared by the herd, as an app would hold it

    def call(scope: str) -> str:
        reply = cca.acquire_token_for_client([scope])
        if "access_token" not in reply:
            raise RuntimeError(f"msal: {reply.get('error')}: {reply.get('error_description')}")
        return str(reply["access_token"])

    _threads(herd, call, VAULT_SCOPE)


def _threads(herd: int, call: Callable[[str], object], argument: str) -> None:
    """``herd`` threads released together by a barrier; any caller's error fails the scenario."""
    barrier = threading.Barrier(herd)
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            barrier.wait(JOIN_TIMEOUT)
            call(argument)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(herd)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"a caller did not finish within {JOIN_TIMEOUT:.0f} s")
    if errors:
        raise RuntimeError(f"{len(errors)} of {herd} callers failed; first: {errors[0]!r}") from errors[0]


def _tasks(herd: int, make_call: Callable[[], Callable[[str], Awaitable[object]]], argument: str) -> None:
    call = make_call()

    async def gather() -> None:
        await asyncio.wait_for(asyncio.gather(*(call(argument) for _ in range(herd))), JOIN_TIMEOUT)

    asyncio.run(gather())


def _identity_tasks(emulator: AzureEmulator, herd: int, make_transport: Callable[[], Any]) -> None:
    async def gather() -> None:
        credential = AsyncClientSecretCredential(
            emulator.tenant_id,
            emulator.app.app_id,
            emulator.app.secrets[0],
            authority=emulator.authority,
            disable_instance_discovery=True,
            # The emulator's CA given to the transport: aiohttp makes its default SSL context when it is first
            # imported, so an earlier benchmark's emulator (another CA) would otherwise be the one it trusts.
            transport=make_transport(connection_verify=str(emulator.ca_bundle_path)),
        )
        async with credential:
            calls = (credential.get_token(VAULT_SCOPE) for _ in range(herd))
            await asyncio.wait_for(asyncio.gather(*calls), JOIN_TIMEOUT)

    asyncio.run(gather())


def _async_transport() -> tuple[str, Callable[[], Any]]:
    """azure.identity.aio's default transport is aiohttp, which appauth does not depend on: use it when it
    is installed, else azure-core's AsyncioRequestsTransport (requests in the loop's thread pool). The
    credential takes no lock either way, so the count does not depend on the transport."""
    try:
        import aiohttp  # noqa: F401
        from azure.core.pipeline.transport import AioHttpTransport

        return "aiohttp (AioHttpTransport)", AioHttpTransport
    except ImportError:
        from azure.core.pipeline.transport import AsyncioRequestsTransport

        return "AsyncioRequestsTransport (aiohttp is not installed)", AsyncioRequestsTransport


if __name__ == "__main__":
    run().print_summary()
