"""TokenValidator's arguments and validator_from_settings (no I/O: every mistake is a ConfigError naming the
argument or setting as the user wrote it), and the RFC 6750 seam the adapters share: bearer_token and
error_response."""

from __future__ import annotations

from typing import Any

import pytest

from appauth_core import ConfigError, InsufficientScopeError, TokenValidationError, TokenValidator
from appauth_core.validation import Caller, bearer_token, error_response, validator_from_settings

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "a1111111-2222-3333-4444-55555555555b"


@pytest.mark.parametrize(
    ("arguments", "argument", "says"),
    [
        ({"audience": ""}, "audience", "each must be a string without blanks"),
        ({"audience": []}, "audience", "non-empty list"),
        ({"audience": ["api://a", 3]}, "audience", "holds 3"),
        ({"audience": "api://a b"}, "audience", "without blanks"),
        ({"tenant_id": None}, "tenant_id", "is required"),
        ({"tenant_id": "common"}, "tenant_id", "allowed_tenants"),
        ({"tenant_id": "contoso.onmicrosoft.com"}, "tenant_id", "a domain"),
        ({"tenant_id": "not-a-guid"}, "tenant_id", "a tenant id is a GUID"),
        ({"allowed_tenants": [TENANT]}, "tenant_id", "not both"),
        ({"tenant_id": None, "allowed_tenants": []}, "allowed_tenants", "non-empty list"),
        ({"tenant_id": None, "allowed_tenants": ["*", TENANT]}, "allowed_tenants", "either ['*']"),
        ({"tenant_id": None, "allowed_tenants": ["x"]}, "allowed_tenants", "GUID"),
        ({"allowed_client_ids": ["app"]}, "allowed_client_ids", "a client id is a GUID"),
        ({"allowed_client_ids": []}, "allowed_client_ids", "non-empty list"),
        ({"authority": "http://login.microsoftonline.com/"}, "authority", "not an https URL"),
        ({"authority": f"https://login.microsoftonline.com/{TENANT}"}, "authority", "has a path"),
        ({"authority": "https://login.microsoftonline.com/?x=1"}, "authority", "query"),
        ({"leeway": -1}, "leeway", "from 0 to 300"),
        ({"leeway": 301}, "leeway", "from 0 to 300"),
        ({"leeway": True}, "leeway", "from 0 to 300"),
        ({"leeway": "60"}, "leeway", "from 0 to 300"),
    ],
)
def test_a_bad_argument_is_a_config_error_naming_it(arguments: dict[str, Any], argument: str, says: str) -> None:
    given = {"audience": "api://orders", "tenant_id": TENANT, **arguments}
    audience = given.pop("audience")

    with pytest.raises(ConfigError) as refused:
        TokenValidator(audience, **given)

    assert refused.value.setting == refused.value.key == f"TokenValidator({argument}=...)"
    assert says in str(refused.value) and f"TokenValidator({argument}=...)" in str(refused.value)
    assert isinstance(refused.value, ValueError)


def test_good_arguments_are_taken_in_their_canonical_form() -> None:
    validator = TokenValidator(
        ["api://orders", CLIENT.upper()],
        allowed_tenants=[TENANT.upper(), "{" + TENANT + "}"],
        allowed_client_ids=CLIENT,  # one string is one client id
        authority="https://login.microsoftonline.us",
        leeway=0,
    )
    arguments = validator._arguments
    assert arguments.tenants == frozenset({TENANT}) and arguments.client_ids == frozenset({CLIENT})
    assert arguments.authority == "https://login.microsoftonline.us/" and arguments.tenant_segment == "organizations"
    assert arguments.audiences == frozenset({"api://orders", CLIENT})  # a client id as v2 tokens carry it
    assert repr(validator) == f"TokenValidator(audience=[{CLIENT!r}, 'api://orders'], tenants=[{TENANT!r}])"
    assert TokenValidator("api://orders", allowed_tenants=["*"])._arguments.tenants is None


@pytest.mark.parametrize(
    ("spell", "settings", "setting"),
    [
        ("APPAUTH['API']['{}']", {"AUDIENCE": "api://orders", "TENANT_ID": "x"}, "APPAUTH['API']['TENANT_ID']"),
        ("APPAUTH_API_{}", {"AUDIENCE": "api://orders", "TENANT_ID": TENANT, "LEEWAY": 900}, "APPAUTH_API_LEEWAY"),
        ("APPAUTH_API_{}", {"TENANT_ID": TENANT}, "APPAUTH_API_AUDIENCE"),
        ("APPAUTH_API_{}", {"AUDIENCE": "api://orders", "TENANT": TENANT}, "APPAUTH_API_TENANT"),
        (
            "APPAUTH['API']['{}']",
            {"AUDIENCE": "api://orders", "ALLOWED_TENANTS": [TENANT], "TENANT_ID": TENANT},
            "APPAUTH['API']['TENANT_ID']",
        ),
    ],
)
def test_settings_errors_name_the_setting_as_the_user_spells_it(
    spell: str, settings: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        validator_from_settings(settings, spell=spell)
    assert refused.value.setting == setting
    assert setting in str(refused.value) and "TokenValidator(" not in str(refused.value)


def test_an_unknown_setting_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError, match=r"Did you mean APPAUTH_API_TENANT_ID\?"):
        validator_from_settings({"AUDIENCE": "api://x", "TENANT": TENANT}, spell="APPAUTH_API_{}")


def test_settings_build_the_validator_their_keys_describe() -> None:
    validator = validator_from_settings(
        {
            "AUDIENCE": ["api://orders"],
            "ALLOWED_TENANTS": [TENANT],
            "ALLOWED_CLIENT_IDS": [CLIENT],
            "AUTHORITY": "https://login.microsoftonline.us/",
            "LEEWAY": 5,
            "TENANT_ID": None,  # None is the default
        },
        spell="APPAUTH_API_{}",
    )
    arguments = validator._arguments
    assert (arguments.audiences, arguments.tenants, arguments.client_ids) == (
        frozenset({"api://orders"}),
        frozenset({TENANT}),
        frozenset({CLIENT}),
    )
    assert (arguments.authority, arguments.leeway) == ("https://login.microsoftonline.us/", 5.0)


# --- the RFC 6750 seam ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Bearer abc.def.ghi", "bearer abc.def.ghi", "  BEARER   abc.def.ghi  "])
def test_bearer_token_takes_the_token_whatever_the_case_of_the_scheme(header: str) -> None:
    assert bearer_token(header) == "abc.def.ghi"


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", "Token x"])
def test_no_bearer_token_is_401_with_a_bare_challenge(header: str | None) -> None:
    with pytest.raises(TokenValidationError) as refused:
        bearer_token(header)
    error = refused.value
    assert (error.status, error.error, error.www_authenticate) == (401, None, "Bearer")
    status, headers, body = error_response(error)
    assert (status, headers["WWW-Authenticate"], body["error"]) == (401, "Bearer", "unauthorized")
    assert "dXNlcjpwYXNz" not in str(error) + error.reason  # not even another scheme's credentials


def test_error_response_for_a_missing_scope_names_no_scope() -> None:
    caller = Caller(CLIENT, TENANT, None, frozenset(), frozenset(), "1.0", True, "sub")
    error = InsufficientScopeError(caller, missing_roles=["Orders.Admin"])
    status, headers, body = error_response(error)
    assert (status, headers["WWW-Authenticate"]) == (403, 'Bearer error="insufficient_scope"')
    assert "Orders.Admin" not in repr(body) and "Orders.Admin" in error.reason
    assert headers["Cache-Control"] == "no-store"
