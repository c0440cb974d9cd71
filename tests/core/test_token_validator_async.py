"""validate_async: the same checks as validate; a request (first token, unknown key) runs in a worker thread so
the event loop keeps running, while a token seen before, or one whose keys are known, never leaves the loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from appauth_core import InsufficientScopeError, TokenValidationError
from appauth_core.testing import AzureEmulator
from tests.canaries import Canaries

from .validator_support import app_token, new_api, validator_for, with_claims, with_header

pytestmark = pytest.mark.usefixtures("azure_emulator_env")


def test_the_first_validation_fetches_in_a_thread_while_the_loop_runs_on(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator)
    validator = validator_for(azure_emulator, api)
    token = app_token(azure_emulator, api)
    azure_emulator.faults.inject("entra.discovery", delay=0.3)  # a slow authority
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> Any:
        running = asyncio.create_task(ticker())
        try:
            return await validator.validate_async(token)
        finally:
            running.cancel()

    caller = asyncio.run(main())

    assert caller.client_id == azure_emulator.app.app_id
    assert ticks >= 5  # the loop went on during the 0.3 s fetch (it would tick once if it were blocked)


def test_known_keys_and_tokens_seen_before_never_leave_the_loop(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = new_api(azure_emulator)
    validator = validator_for(azure_emulator, api)
    seen = app_token(azure_emulator, api)
    validator.validate(seen)

    async def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("validate_async went to a thread")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)

    async def main() -> tuple[Any, Any]:
        return await validator.validate_async(seen), await validator.validate_async(app_token(azure_emulator, api))

    again, new = asyncio.run(main())
    assert again.client_id == new.client_id == azure_emulator.app.app_id


def test_concurrent_first_validations_on_the_loop_share_one_fetch(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator)
    validator = validator_for(azure_emulator, api)
    tokens = [app_token(azure_emulator, api) for _ in range(10)]

    async def main() -> list[Any]:
        return await asyncio.gather(*(validator.validate_async(token) for token in tokens))

    callers = asyncio.run(main())

    assert {caller.client_id for caller in callers} == {azure_emulator.app.app_id}
    assert (azure_emulator.counters["entra.discovery"], azure_emulator.counters["entra.jwks"]) == (1, 1)


@pytest.mark.parametrize("where", ["on the loop", "in the thread"])
def test_refusals_are_the_same_and_leave_no_token_in_frame_locals(
    azure_emulator: AzureEmulator, canaries: Canaries, where: str
) -> None:
    api = new_api(azure_emulator)
    azure_emulator.assign_role(api, azure_emulator.app, "Orders.Read")
    validator = validator_for(azure_emulator, api)
    if where == "on the loop":
        validator.validate(app_token(azure_emulator, api))  # keys known: refusals are decided on the loop
    tampered = canaries.add(with_claims(app_token(azure_emulator, api), roles=["Orders.Write"]), "tampered")
    forged_kid = canaries.add(with_header(app_token(azure_emulator, api), kid="forged"), "forged kid")
    lacking = canaries.add(app_token(azure_emulator, api), "valid, lacking a role")

    async def refusal(token: str, **need: Any) -> TokenValidationError:
        try:
            await validator.validate_async(token, **need)
        except TokenValidationError as error:
            return error
        raise AssertionError("accepted")

    errors = [
        asyncio.run(refusal(tampered)),
        asyncio.run(refusal(forged_kid)),
        asyncio.run(refusal(lacking, roles=["Orders.Write"])),
        asyncio.run(refusal(lacking, roles=["Orders.Write"])),  # from the cache this time
    ]

    assert "signature does not verify" in errors[0].reason
    assert "no published signing key" in errors[1].reason
    assert all(isinstance(error, InsufficientScopeError) for error in errors[2:])
    for error in errors:
        canaries.check_error(error)
