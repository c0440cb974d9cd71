"""TokenValidator against the emulator: real tokens accepted with the caller they describe, and each kind of
bad token refused with the status, RFC 6750 error and reason a server needs, without the token in the error,
its repr, its traceback or the frame locals an error tracker would show."""

from __future__ import annotations

import time
from typing import Any

import pytest

from appauth_core import Caller, InsufficientScopeError, TokenValidationError, TokenValidator
from appauth_core.testing import AzureEmulator
from appauth_core.validation import _validator, error_response
from tests.canaries import Canaries

from .validator_support import (
    ROLES,
    alg_none,
    app_token,
    b64,
    hs256_with_public_key,
    new_api,
    parts,
    respelled_signature,
    signed_by_emulator,
    validator_for,
    with_claims,
    with_header,
)

pytestmark = pytest.mark.usefixtures("azure_emulator_env")


# --- accepted ------------------------------------------------------------------------------------------------


def test_a_v1_app_token_gives_the_caller_it_describes(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator)
    azure_emulator.assign_role(api, azure_emulator.app, "Orders.Read")
    token = app_token(azure_emulator, api)
    _, claims, _ = parts(token)

    caller = validator_for(azure_emulator, api).validate(token, roles=["Orders.Read"])

    assert caller == Caller(
        client_id=azure_emulator.app.app_id,
        tenant_id=azure_emulator.tenant_id,
        object_id=azure_emulator.app.object_id,
        roles=frozenset({"Orders.Read"}),
        scopes=frozenset(),
        version="1.0",
        is_app=True,
        subject=claims["sub"],
    )
    assert caller.claims["aud"] == api.app_id_uri and caller.claims["appidacr"] == "1"


def test_a_v2_token_of_a_managed_identity_names_the_caller_by_azp(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator, version=2)
    identity = azure_emulator.directory.system_identity
    azure_emulator.assign_role(api, identity, "Orders.Write")
    token = azure_emulator.issue_token(api.app_id_uri, identity=identity).access_token
    assert parts(token)[1]["aud"] == api.app_id  # v2: the client id

    caller = validator_for(azure_emulator, api, audience=api.app_id).validate(token, roles="Orders.Write")

    assert (caller.version, caller.client_id, caller.object_id) == ("2.0", identity.client_id, identity.object_id)
    assert caller.roles == frozenset({"Orders.Write"}) and caller.is_app


@pytest.mark.parametrize("version", [1, 2])
def test_a_users_delegated_token_carries_its_scopes_and_is_not_an_app(
    azure_emulator: AzureEmulator, version: int
) -> None:
    api = new_api(azure_emulator, version=version)
    token = azure_emulator.issue_user_token(api, scopes=("Orders.Read", "user_impersonation"))
    _, claims, _ = parts(token)

    caller = validator_for(azure_emulator, api).validate(token, scopes=["Orders.Read"])

    assert caller.scopes == frozenset({"Orders.Read", "user_impersonation"}) and caller.roles == frozenset()
    assert not caller.is_app
    assert caller.object_id == claims["oid"] != caller.subject  # a user's sub is pairwise
    assert caller.client_id == azure_emulator.app.app_id and caller.version == f"{version}.0"


def test_without_idtyp_an_app_token_is_told_apart_by_no_scp_and_oid_equal_to_sub(
    azure_emulator: AzureEmulator,
) -> None:
    """Tokens issued before the optional ``idtyp`` claim existed (signed here by the emulator's key)."""
    api = new_api(azure_emulator)
    validator = validator_for(azure_emulator, api)
    app_only = signed_by_emulator(azure_emulator, app_token(azure_emulator, api), idtyp=None)
    user = signed_by_emulator(azure_emulator, azure_emulator.issue_user_token(api), idtyp=None)

    assert validator.validate(app_only).is_app
    assert not validator.validate(user).is_app


def test_the_audience_may_be_the_app_id_uri_or_the_client_id(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator)
    by_uri = app_token(azure_emulator, api)
    by_client_id = azure_emulator.issue_token(api.app_id).access_token  # v1: aud is what was asked for
    assert parts(by_client_id)[1]["aud"] == api.app_id

    both = validator_for(azure_emulator, api, audience=[api.app_id_uri, api.app_id])
    assert both.validate(by_uri).client_id == both.validate(by_client_id).client_id

    only_uri = validator_for(azure_emulator, api, audience=api.app_id_uri)
    with pytest.raises(TokenValidationError, match="audience"):
        only_uri.validate(by_client_id)


def test_a_token_expired_within_the_leeway_is_accepted(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator)
    token = app_token(azure_emulator, api, lifetime=-20)

    assert validator_for(azure_emulator, api, leeway=60).validate(token).client_id == azure_emulator.app.app_id
    with pytest.raises(TokenValidationError, match="expired"):
        validator_for(azure_emulator, api, leeway=0).validate(token)


def test_another_tenant_is_accepted_when_it_is_allowed(azure_emulator: AzureEmulator) -> None:
    """A multi-tenant API: each token's issuer is the multi-tenant document's template with its own tid."""
    other = azure_emulator.add_tenant()
    api = new_api(azure_emulator, multi_tenant=True)
    caller_app = azure_emulator.register_app(tenant_id=other.tenant_id)
    home = app_token(azure_emulator, api)
    foreign = azure_emulator.issue_token(api.app_id_uri, app=caller_app).access_token
    assert parts(foreign)[1]["tid"] == other.tenant_id

    listed = validator_for(azure_emulator, api, allowed_tenants=[azure_emulator.tenant_id, other.tenant_id])
    assert listed.validate(foreign).tenant_id == other.tenant_id
    assert listed.validate(home).tenant_id == azure_emulator.tenant_id

    anyone = validator_for(azure_emulator, api, allowed_tenants=["*"])
    assert anyone.validate(foreign).client_id == caller_app.app_id

    only_home = validator_for(azure_emulator, api, allowed_tenants=[azure_emulator.tenant_id])
    with pytest.raises(TokenValidationError, match="not an allowed tenant"):
        only_home.validate(foreign)


def test_allowed_client_ids_admit_only_those_callers(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator)
    stranger = azure_emulator.register_app()
    token = app_token(azure_emulator, api)
    validator = validator_for(azure_emulator, api, allowed_client_ids=[azure_emulator.app.app_id.upper()])

    assert validator.validate(token).client_id == azure_emulator.app.app_id
    with pytest.raises(TokenValidationError, match="not one of the allowed client ids") as refused:
        validator.validate(azure_emulator.issue_token(api.app_id_uri, app=stranger).access_token)
    assert refused.value.status == 401


# --- refused -------------------------------------------------------------------------------------------------


def _other_tenants_token(emulator: AzureEmulator, token: str, api: Any) -> str:
    other = emulator.add_tenant()
    return emulator.issue_token(api.app_id_uri, app=emulator.register_app(tenant_id=other.tenant_id)).access_token


def _deeply_nested(token: str, *, claims: bool) -> str:
    """``token`` with its claims (or header) JSON nested 20,000 deep, still under the length cap:
    ``json.loads`` raises RecursionError on it, which is no ValueError."""
    header, payload, _ = token.split(".")
    nested = b64(b"[" * 20_000)
    return f"{header}.{nested}.AAAA" if claims else f"{nested}.{payload}.AAAA"


REFUSALS: dict[str, tuple[Any, str]] = {
    # name: (how to make the bad token from a good one, what the reason says)
    "another tenant": (_other_tenants_token, "tenant"),
    "wrong audience": (lambda em, t, api: em.issue_token("api://someone-else").access_token, "audience"),
    "expired": (lambda em, t, api: em.issue_token(api.app_id_uri, lifetime=-120).access_token, "expired"),
    "not yet valid": (lambda em, t, api: signed_by_emulator(em, t, nbf=int(time.time()) + 600), "not valid for"),
    "alg none": (lambda em, t, api: alg_none(t), "'none': only RS256"),
    "HS256 with the public key": (lambda em, t, api: hs256_with_public_key(em, t), "'HS256': only RS256"),
    "another alg": (lambda em, t, api: with_header(t, alg="PS256"), "'PS256': only RS256"),
    "tampered payload": (lambda em, t, api: with_claims(t, roles=["Orders.Write"]), "signature does not verify"),
    "unknown kid": (lambda em, t, api: with_header(t, kid="forged-kid"), "no published signing key"),
    "v1 token with the v2 issuer": (
        lambda em, t, api: signed_by_emulator(em, t, iss=f"{em.authority}{em.tenant_id}/v2.0"),
        "issuer",
    ),
    "issuer of another tenant": (
        lambda em, t, api: signed_by_emulator(
            em, t, iss="https://sts.windows.net/00000000-0000-0000-0000-000000000001/"
        ),
        "issuer",
    ),
    "no exp": (lambda em, t, api: signed_by_emulator(em, t, exp=None), "no expiry"),
    "no version": (lambda em, t, api: signed_by_emulator(em, t, ver=None), "version"),
    "no caller": (lambda em, t, api: signed_by_emulator(em, t, appid=None), "names no calling application"),
    "crit header": (lambda em, t, api: with_header(t, crit=["exp"]), "critical"),
    "not a JWT": (lambda em, t, api: "not-a-token-at-all", "not a JWT"),
    "signature spelled another way": (lambda em, t, api: respelled_signature(t), "canonical base64url"),
    "too long": (lambda em, t, api: t + "A" * 40_000, "longer than"),
    # json.loads raises RecursionError (not a ValueError) on JSON nested this deep: a 401, not a 500.
    "claims nested past the parser's depth": (lambda em, t, api: _deeply_nested(t, claims=True), "not JSON"),
    "header nested past the parser's depth": (lambda em, t, api: _deeply_nested(t, claims=False), "not JSON"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_bad_token_is_refused_with_401_invalid_token_and_a_reason(
    azure_emulator: AzureEmulator, canaries: Canaries, case: str
) -> None:
    api = new_api(azure_emulator)
    good = app_token(azure_emulator, api)
    make, reason = REFUSALS[case]
    bad = canaries.add(make(azure_emulator, good, api), f"bad token: {case}")
    validator = validator_for(azure_emulator, api)
    validator.validate(good)  # the keys are known: the refusal is about the token alone

    with pytest.raises(TokenValidationError) as refused:
        validator.validate(bad)

    error = refused.value
    assert type(error) is TokenValidationError
    assert (error.status, error.error, error.www_authenticate) == (401, "invalid_token", 'Bearer error="invalid_token"')
    assert reason in error.reason
    canaries.check_error(error)
    status, headers, body = error_response(error)
    assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer error="invalid_token"')
    # The same answer whichever check failed: nothing in it helps an attacker.
    assert body == {"error": "invalid_token", "error_description": "The bearer token is not valid for this API."}


@pytest.mark.parametrize(
    "forged",
    [{"header": {"kid": "k" * 10_000}}, {"header": {"alg": "x" * 10_000}}, {"claims": {"aud": "a" * 10_000}},
     {"claims": {"ver": "v" * 10_000}}, {"claims": {"tid": "t" * 10_000}}, {"claims": {"iss": "i" * 10_000}}],
)  # fmt: skip
def test_a_refusal_reason_carries_at_most_a_few_dozen_characters_of_a_forged_value(
    azure_emulator: AzureEmulator, forged: dict[str, dict[str, str]]
) -> None:
    """The claims and header are checked before the signature, so a forged token chooses them; the reason
    (logged on every refusal) cuts each to 80 characters instead of carrying kilobytes into the log."""
    api = new_api(azure_emulator)
    token = app_token(azure_emulator, api)
    token = with_header(token, **forged.get("header", {}))
    token = with_claims(token, **forged.get("claims", {}))
    with pytest.raises(TokenValidationError) as refused:
        validator_for(azure_emulator, api).validate(token)
    assert len(refused.value.reason) < 400, refused.value.reason
    assert "..." in refused.value.reason


def test_an_unknown_kid_costs_exactly_one_key_refetch(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator)
    good = app_token(azure_emulator, api)
    validator = validator_for(azure_emulator, api)
    validator.validate(good)
    before = azure_emulator.counters["entra.jwks"]

    with pytest.raises(TokenValidationError, match="no published signing key"):
        validator.validate(with_header(app_token(azure_emulator, api), kid="forged-kid"))

    assert azure_emulator.counters["entra.jwks"] - before == 1


def test_a_missing_role_or_scope_is_403_insufficient_scope_checked_on_every_call(
    azure_emulator: AzureEmulator, canaries: Canaries
) -> None:
    api = new_api(azure_emulator)
    azure_emulator.assign_role(api, azure_emulator.app, "Orders.Read")
    token = canaries.add(app_token(azure_emulator, api), "role token")
    validator = validator_for(azure_emulator, api)

    for _ in range(2):  # the first call checks the token in full, the second answers from the cache
        with pytest.raises(InsufficientScopeError) as refused:
            validator.validate(token, roles=["Orders.Read", "Orders.Write"])
        error = refused.value
        assert (error.status, error.error) == (403, "insufficient_scope")
        assert error.missing_roles == ("Orders.Write",) and error.missing_scopes == ()
        assert error.caller.roles == frozenset({"Orders.Read"})
        assert error.www_authenticate == 'Bearer error="insufficient_scope"'
        canaries.check_error(error)

    with pytest.raises(InsufficientScopeError) as no_scope:
        validator.validate(token, scopes="Orders.Read")  # an app-only token has no scopes
    assert no_scope.value.missing_scopes == ("Orders.Read",)
    status, headers, body = error_response(no_scope.value)
    assert (status, headers["WWW-Authenticate"], body["error"]) == (
        403,
        'Bearer error="insufficient_scope"',
        "insufficient_scope",
    )
    assert validator.validate(token, roles="Orders.Read").roles == frozenset({"Orders.Read"})  # one name, not letters


def test_authorize_checks_a_caller_already_validated(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator)
    azure_emulator.assign_role(api, azure_emulator.app, "Orders.Read")
    validator = validator_for(azure_emulator, api)
    caller = validator.validate(app_token(azure_emulator, api))

    assert validator.authorize(caller, roles=["Orders.Read"]) is caller
    with pytest.raises(InsufficientScopeError, match=r"'Orders\.Write'"):
        validator.authorize(caller, roles=ROLES)


# --- the cache of tokens seen before -------------------------------------------------------------------------


def test_a_token_seen_before_is_answered_from_the_cache_until_it_expires(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = new_api(azure_emulator)
    token = app_token(azure_emulator, api, lifetime=600)
    validator = validator_for(azure_emulator, api, leeway=0)
    first = validator.validate(token)
    requests_after_first = azure_emulator.counters.snapshot()

    assert validator.validate(token) is first  # the same object: nothing was checked again
    assert azure_emulator.counters.snapshot() == requests_after_first

    now = time.time()
    monkeypatch.setattr(_validator, "_now", lambda: now + 601)
    with pytest.raises(TokenValidationError, match="expired"):
        validator.validate(token)


def test_the_cache_is_bounded_and_keyed_by_a_hash_not_the_token(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_validator, "MAX_CACHED_TOKENS", 3)
    api = new_api(azure_emulator)
    validator = validator_for(azure_emulator, api)
    tokens = [app_token(azure_emulator, api) for _ in range(5)]
    callers = [validator.validate(token) for token in tokens]

    cache = validator._cache
    assert len(cache) == 3
    kept = [caller for caller, _ in cache.values()]
    assert all(a is b for a, b in zip(kept, callers[2:], strict=True))  # the oldest went first
    assert all(isinstance(key, bytes) and len(key) == 32 for key in cache)  # SHA-256 digests
    held = repr(cache) + repr(callers) + repr(validator)
    assert not any(token in held or token.split(".")[2] in held for token in tokens)


def test_an_expired_cache_entry_makes_room_before_a_live_one_goes(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_validator, "MAX_CACHED_TOKENS", 2)
    api = new_api(azure_emulator)
    validator = validator_for(azure_emulator, api, leeway=0)
    short = validator.validate(app_token(azure_emulator, api, lifetime=30))
    long = validator.validate(app_token(azure_emulator, api, lifetime=3000))
    now = time.time()
    monkeypatch.setattr(_validator, "_now", lambda: now + 60)
    newest = validator.validate(app_token(azure_emulator, api, lifetime=3000))

    kept = [caller for caller, _ in validator._cache.values()]
    assert len(kept) == 2 and kept[0] is long and kept[1] is newest  # the expired one went, not the oldest live one
    assert not any(caller is short for caller in kept)


# --- no token left behind --------------------------------------------------------------------------------------


def test_the_caller_and_the_validator_never_show_the_token(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator)
    azure_emulator.assign_role(api, azure_emulator.app, "Orders.Read")
    token = app_token(azure_emulator, api)
    validator = validator_for(azure_emulator, api)
    caller = validator.validate(token)

    assert repr(caller) == (
        f"Caller(client_id={azure_emulator.app.app_id!r}, tenant_id={azure_emulator.tenant_id!r}, "
        "roles=['Orders.Read'], scopes=[], is_app=True)"
    )
    signature = token.split(".")[2]
    for shown in (repr(caller), str(caller), repr(dict(caller.claims)), repr(validator)):
        assert signature not in shown and token not in shown


def test_a_value_that_is_not_text_is_refused_not_crashed_on(azure_emulator: AzureEmulator) -> None:
    validator = validator_for(azure_emulator, new_api(azure_emulator))
    for value in (None, b"eyJ.eyJ.sig", 42, "\ud800.a.b"):
        with pytest.raises(TokenValidationError) as refused:
            validator.validate(value)  # type: ignore[arg-type]
        assert refused.value.status == 401


def test_one_validator_serves_tokens_of_both_versions(azure_emulator: AzureEmulator) -> None:
    """v1 and v2 issuers come from the two discovery documents, each fetched once; one key set serves both."""
    v1_api = new_api(azure_emulator, version=1)
    v2_token = azure_emulator.issue_user_token(v1_api, version=2)
    validator = TokenValidator(
        [v1_api.app_id_uri, v1_api.app_id], tenant_id=azure_emulator.tenant_id, authority=azure_emulator.authority
    )
    validator.validate(app_token(azure_emulator, v1_api))
    validator.validate(v2_token)
    validator.validate(azure_emulator.issue_user_token(v1_api, version=2))
    validator.validate(app_token(azure_emulator, v1_api))

    assert azure_emulator.counters["entra.discovery"] == 2 and azure_emulator.counters["entra.jwks"] == 1


def test_roles_and_scopes_may_be_any_iterable_of_names(azure_emulator: AzureEmulator) -> None:
    api = new_api(azure_emulator)
    azure_emulator.assign_role(api, azure_emulator.app, "Orders.Read")
    validator = validator_for(azure_emulator, api)
    caller = validator.validate(app_token(azure_emulator, api))

    assert validator.authorize(caller, roles=(name for name in ["Orders.Read"])) is caller
    with pytest.raises(InsufficientScopeError):  # an iterator is read once, and checked all the same
        validator.authorize(caller, roles=(name for name in ["Orders.Read", "Orders.Write"]))
    with pytest.raises(InsufficientScopeError):  # "Orders.Read" is one scope, not the letters of one
        validator.authorize(caller, scopes="Orders.Read")
    user = validator.validate(azure_emulator.issue_user_token(api, scopes=("a", "b")))
    with pytest.raises(InsufficientScopeError):
        validator.authorize(user, scopes="ab")
    assert validator.authorize(user, scopes={"a", "b"}) is user
