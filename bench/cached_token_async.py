"""1b. The cost of a cached token in async code: what every request of an async app using the ``.aio``
Azure SDK clients pays.

Ours: ``await provider.aio.get_token`` and ``await provider.aio.get_token_info`` (client-secret connection
string, and App Service managed identity); anchors: ``azure.identity.aio``'s ``ClientSecretCredential`` and
``ManagedIdentityCredential``. Every candidate is warmed once against the emulator, then awaited NUMBER
times in a row on one event loop, in ROUNDS alternating rounds; the figure is the median per-call time. The
emulator's request counters prove every timed call was a cache hit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from _common import (
    VAULT_SCOPE,
    BenchResult,
    Row,
    client_secret_connection_string,
    format_seconds,
    median,
    print_ratio,
    require,
    running_emulator,
    times_faster,
)

NUMBER = 20_000
ROUNDS = 7  # no goal of its own (issue 8's goal is for the sync call): the rows are a reference

Candidate = Callable[[], Awaitable[object]]


async def _per_call_seconds(candidates: dict[str, Candidate], number: int, rounds: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, call in candidates.items():
            started = time.perf_counter()
            for _ in range(number):
                await call()
            timings[name].append((time.perf_counter() - started) / number)
    return timings


async def _measure(number: int, rounds: int, result: BenchResult) -> None:
    from azure.identity.aio import ClientSecretCredential, ManagedIdentityCredential

    from appauth_core import AzureServiceTokenProvider
    from appauth_core.tokens import TokenCache

    with running_emulator() as emulator:
        ours_secret = AzureServiceTokenProvider(
            client_secret_connection_string(emulator), emulator.authority, cache=TokenCache()
        ).aio
        ours_mi = AzureServiceTokenProvider("RunAs=App", cache=TokenCache()).aio  # App Service, from the env
        async with (
            ClientSecretCredential(
                emulator.tenant_id,
                emulator.app.app_id,
                emulator.app.secrets[0],
                authority=emulator.authority,
                disable_instance_discovery=True,
                connection_verify=str(emulator.ca_path),  # aiohttp does not read REQUESTS_CA_BUNDLE
            ) as identity_secret,
            ManagedIdentityCredential() as identity_mi,
        ):
            candidates: dict[str, Candidate] = {
                "ours aio.get_token (client secret)": lambda: ours_secret.get_token(VAULT_SCOPE),
                "ours aio.get_token_info (client secret)": lambda: ours_secret.get_token_info(VAULT_SCOPE),
                "ours aio.get_token (App Service MI)": lambda: ours_mi.get_token(VAULT_SCOPE),
                "azure.identity.aio ClientSecretCredential.get_token": lambda: identity_secret.get_token(VAULT_SCOPE),
                "azure.identity.aio ManagedIdentityCredential.get_token": lambda: identity_mi.get_token(VAULT_SCOPE),
            }
            for call in candidates.values():
                await call()  # the one upstream request each makes; everything timed below is a cache hit
            warmed = emulator.counters.snapshot()
            timings = await _per_call_seconds(candidates, number, rounds)
            if emulator.counters.snapshot() != warmed:
                raise RuntimeError("a timed call was not a cache hit: it reached the emulator")
    medians = {name: median(values) for name, values in timings.items()}
    result.details = {"number": number, "rounds": rounds, "timings": timings, "medians": medians}
    pairs = [
        ("client secret, `await aio.get_token` vs `aio.ClientSecretCredential.get_token`",
         "ours aio.get_token (client secret)", "azure.identity.aio ClientSecretCredential.get_token"),
        ("client secret, `await aio.get_token_info` vs `aio.ClientSecretCredential.get_token`",
         "ours aio.get_token_info (client secret)", "azure.identity.aio ClientSecretCredential.get_token"),
        ("App Service MI, `await aio.get_token` vs `aio.ManagedIdentityCredential.get_token`",
         "ours aio.get_token (App Service MI)", "azure.identity.aio ManagedIdentityCredential.get_token"),
    ]  # fmt: skip
    for label, ours_name, anchor_name in pairs:
        ours, anchor = medians[ours_name], medians[anchor_name]
        ratio = times_faster(ours, anchor)
        result.rows.append(
            Row(
                comparison=f"Cached token, async: {label}",
                ours=format_seconds(ours),
                anchor=f"{format_seconds(anchor)} (azure-identity)",
                ratio=ratio,
                goal="(reference)",
                met=None,
            )
        )
        print_ratio(f"cached token (async), {label}", format_seconds(ours), anchor_name, format_seconds(anchor), ratio)
    result.notes.append(
        f"{number:,} awaits x {rounds} alternating rounds per candidate on one event loop, median per call; every "
        "timed call was a cache hit (the emulator's request counters did not move), answered on the loop's "
        "thread (`provider.aio` leaves the loop only to fetch a token)."
    )


def run(number: int = NUMBER, rounds: int = ROUNDS) -> BenchResult:
    require("aiohttp")  # azure-core's async transport (the `aio` extra)
    result = BenchResult("cached_token_async", "1b. Cached token, async: cost of one await")
    asyncio.run(_measure(number, rounds, result))
    return result


if __name__ == "__main__":
    run().print_summary()
