"""Byte-level protocol details that differ between hosts. Real clients depend on each one; a test here
fails the moment the emulator drifts from the live service's shape."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest
import requests

VAULT = "https://vault.azure.net"


@pytest.fixture
def http(azure_emulator):
    session = requests.Session()
    session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE would override verify=
    session.verify = str(azure_emulator.ca_path)
    return session


# --- managed identity: each host's dialect --------------------------------------------------------------


def test_app_service_2019_header_name_and_string_expires_on(azure_emulator, http):
    env = azure_emulator.app_service_env()
    params = {"api-version": "2019-08-01", "resource": VAULT}
    ok = http.get(env["IDENTITY_ENDPOINT"], params=params, headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]})
    assert ok.status_code == 200
    body = ok.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert isinstance(body["expires_on"], str) and body["expires_on"].isdigit()
    assert "expires_in" not in body  # msal derives it from expires_on on this host
    # The 2017 header name is not accepted on the 2019 api-version, and vice versa.
    wrong = http.get(env["IDENTITY_ENDPOINT"], params=params, headers={"secret": env["IDENTITY_HEADER"]})
    assert wrong.status_code == 401
    assert set(wrong.json()) >= {"statusCode", "message"}


def test_app_service_2019_accepts_exactly_one_identity_parameter(azure_emulator, http):
    env = azure_emulator.app_service_env()
    identity = azure_emulator.user_assigned_identity
    headers = {"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]}
    base = {"api-version": "2019-08-01", "resource": VAULT}
    for name, value in (("mi_res_id", identity.resource_id), ("principal_id", identity.object_id)):
        reply = http.get(env["IDENTITY_ENDPOINT"], params={**base, name: value}, headers=headers)
        assert reply.json()["client_id"] == identity.client_id
    both = http.get(
        env["IDENTITY_ENDPOINT"],
        params={**base, "client_id": identity.client_id, "object_id": identity.object_id},
        headers=headers,
    )
    assert both.status_code == 400


def test_app_service_2017_secret_header_clientid_and_legacy_date(azure_emulator, http):
    env = azure_emulator.app_service_2017_env()
    identity = azure_emulator.user_assigned_identity
    params = {"api-version": "2017-09-01", "resource": VAULT, "clientid": identity.client_id}
    epoch = http.get(env["MSI_ENDPOINT"], params=params, headers={"secret": env["MSI_SECRET"]}).json()
    assert epoch["expires_on"].isdigit()
    assert azure_emulator.issuer.verify(epoch["access_token"])["appid"] == identity.client_id
    azure_emulator.configure(legacy_expires_on=True)
    try:
        legacy = http.get(env["MSI_ENDPOINT"], params=params, headers={"Secret": env["MSI_SECRET"]}).json()
    finally:
        azure_emulator.configure(legacy_expires_on=False)
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d [AP]M \+00:00", legacy["expires_on"]), legacy["expires_on"]
    parsed = dt.datetime.strptime(legacy["expires_on"], "%m/%d/%Y %I:%M:%S %p +00:00").replace(tzinfo=dt.timezone.utc)
    assert abs(parsed.timestamp() - int(epoch["expires_on"])) < 5


def test_imds_requires_metadata_true_and_answers_all_strings(azure_emulator, http):
    url = azure_emulator.imds_env()["AZURE_POD_IDENTITY_AUTHORITY_HOST"] + "/metadata/identity/oauth2/token"
    params = {"api-version": "2018-02-01", "resource": VAULT}
    missing = http.get(url, params=params)
    assert missing.status_code == 400
    assert missing.json() == {"error": "invalid_request", "error_description": "Required metadata header not specified"}
    body = http.get(url, params=params, headers={"Metadata": "true"}).json()
    assert {"access_token", "expires_in", "expires_on", "not_before", "resource", "token_type", "client_id"} <= set(
        body
    )
    assert all(isinstance(value, str) for value in body.values())
    assert 86000 < int(body["expires_in"]) <= 86400  # managed-identity tokens live about a day
    assert http.get(url, params={"resource": VAULT}, headers={"Metadata": "true"}).status_code == 400  # api-version
    unknown = http.get(
        url, params={**params, "client_id": "00000000-0000-0000-0000-0000000000ff"}, headers={"Metadata": "true"}
    )
    assert unknown.json() == {"error": "invalid_request", "error_description": "Identity not found"}


def test_imds_uses_msi_res_id(azure_emulator, http):
    url = azure_emulator.managed_identity_url + "/metadata/identity/oauth2/token"
    identity = azure_emulator.user_assigned_identity
    reply = http.get(
        url,
        params={"api-version": "2018-02-01", "resource": VAULT, "msi_res_id": identity.resource_id},
        headers={"Metadata": "true"},
    )
    assert reply.json()["client_id"] == identity.client_id


def test_arc_challenges_with_basic_realm_then_takes_the_key(azure_emulator, http):
    url = azure_emulator.arc_env()["IDENTITY_ENDPOINT"]
    params = {"api-version": "2020-06-01", "resource": VAULT}
    challenge = http.get(url, params=params, headers={"Metadata": "true"})
    assert challenge.status_code == 401
    scheme, _, key_path = challenge.headers["WWW-Authenticate"].partition("=")
    assert scheme == "Basic realm"
    assert key_path.endswith(".key")
    key = Path(key_path).read_text()
    assert len(key.encode()) <= 4096
    wrong = http.get(url, params=params, headers={"Metadata": "true", "Authorization": "Basic not-the-key"})
    assert wrong.status_code == 401
    ok = http.get(url, params=params, headers={"Metadata": "true", "Authorization": f"Basic {key}"})
    assert ok.status_code == 200
    assert isinstance(ok.json()["expires_in"], str)


def test_arc_echoes_the_user_assigned_identity(azure_emulator, http):
    url = azure_emulator.arc_env()["IDENTITY_ENDPOINT"]
    identity = azure_emulator.user_assigned_identity
    params = {"api-version": "2020-06-01", "resource": VAULT, "object_id": identity.object_id}
    key_path = http.get(url, params=params, headers={"Metadata": "true"}).headers["WWW-Authenticate"].split("=")[1]
    body = http.get(
        url, params=params, headers={"Metadata": "true", "Authorization": f"Basic {Path(key_path).read_text()}"}
    ).json()
    assert body["object_id"] == identity.object_id  # msal refuses a user-assigned token that is not echoed


def test_cloud_shell_is_a_form_post(azure_emulator, http):
    url = azure_emulator.cloud_shell_env()["MSI_ENDPOINT"]
    assert http.get(url, params={"resource": VAULT}, headers={"Metadata": "true"}).status_code == 405
    reply = http.post(url, data={"resource": VAULT}, headers={"Metadata": "true"})
    assert reply.status_code == 200
    assert reply.json()["resource"] == VAULT


def test_service_fabric_is_https_with_secret_header_and_int_expires_on(azure_emulator, http):
    env = azure_emulator.service_fabric_env()
    assert env["IDENTITY_ENDPOINT"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{40}", env["IDENTITY_SERVER_THUMBPRINT"])
    params = {"api-version": "2019-07-01-preview", "resource": VAULT}
    missing = http.get(env["IDENTITY_ENDPOINT"], params=params)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "SecretHeaderNotFound"
    body = http.get(env["IDENTITY_ENDPOINT"], params=params, headers={"Secret": env["IDENTITY_HEADER"]}).json()
    assert isinstance(body["expires_on"], int)
    assert body["token_type"] == "Bearer"
    old = http.get(
        env["IDENTITY_ENDPOINT"],
        params={**params, "api-version": "2019-08-01"},
        headers={"Secret": env["IDENTITY_HEADER"]},
    )
    assert old.status_code == 400


# --- Entra ID ---------------------------------------------------------------------------------------------


def test_v1_and_v2_discovery_documents_differ_as_in_entra(azure_emulator, http):
    tid = azure_emulator.tenant_id
    v2 = http.get(f"{azure_emulator.authority}{tid}/v2.0/.well-known/openid-configuration").json()
    v1 = http.get(f"{azure_emulator.authority}{tid}/.well-known/openid-configuration").json()
    assert v2["issuer"] == f"{azure_emulator.authority}{tid}/v2.0"
    assert v2["token_endpoint"] == f"{azure_emulator.authority}{tid}/oauth2/v2.0/token"
    assert v1["issuer"] == f"https://sts.windows.net/{tid}/"
    assert v1["token_endpoint"] == f"{azure_emulator.authority}{tid}/oauth2/token"
    keys = http.get(v2["jwks_uri"]).json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["kid"] == keys[0]["x5t"]


def test_v1_token_endpoint_takes_resource_and_answers_strings(azure_emulator, http):
    url = f"{azure_emulator.authority}{azure_emulator.tenant_id}/oauth2/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": azure_emulator.app.app_id,
        "client_secret": azure_emulator.app.secrets[0],
        "resource": "https://management.azure.com/",
    }
    reply = http.post(url, data=form)
    body = reply.json()
    assert reply.headers["Cache-Control"] == "no-store, no-cache"
    for field in ("expires_in", "ext_expires_in", "expires_on", "not_before"):
        assert isinstance(body[field], str) and body[field].isdigit(), field
    assert body["resource"] == "https://management.azure.com/"
    # Entra echoes the resource as asked, trailing slash included (Key Vault then refuses such a token).
    assert azure_emulator.issuer.verify(body["access_token"])["aud"] == "https://management.azure.com/"
    missing = http.post(url, data={k: v for k, v in form.items() if k != "resource"}).json()
    assert missing["error_codes"] == [900144]


def test_v2_token_endpoint_answers_integers_and_refresh_in_for_long_lifetimes(azure_emulator, http):
    url = f"{azure_emulator.authority}{azure_emulator.tenant_id}/oauth2/v2.0/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": azure_emulator.app.app_id,
        "client_secret": azure_emulator.app.secrets[0],
        "scope": "https://management.azure.com//.default",
    }
    body = http.post(url, data=form).json()
    assert isinstance(body["expires_in"], int) and "refresh_in" not in body
    assert azure_emulator.issuer.verify(body["access_token"])["aud"] == "https://management.azure.com/"
    azure_emulator.configure(token_lifetime=86399)
    try:
        long_lived = http.post(url, data=form).json()
    finally:
        azure_emulator.configure(token_lifetime=3599)
    assert long_lived["refresh_in"] == long_lived["expires_in"] // 2


def test_aadsts_error_shape(azure_emulator, http):
    url = f"{azure_emulator.authority}{azure_emulator.tenant_id}/oauth2/v2.0/token"
    reply = http.post(
        url,
        data={
            "grant_type": "client_credentials",
            "client_id": azure_emulator.app.app_id,
            "client_secret": "nope",
            "scope": f"{VAULT}/.default",
        },
    )
    assert reply.status_code == 401
    body = reply.json()
    assert set(body) == {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
    }
    assert re.match(
        r"AADSTS7000215: .*\r\nTrace ID: .+\r\nCorrelation ID: .+\r\nTimestamp: .+Z$", body["error_description"], re.S
    )
    no_credential = http.post(
        url,
        data={"grant_type": "client_credentials", "client_id": azure_emulator.app.app_id, "scope": f"{VAULT}/.default"},
    ).json()
    assert no_credential["error_codes"] == [7000216]
    other_grant = http.post(url, data={"grant_type": "password", "client_id": azure_emulator.app.app_id}).json()
    assert other_grant["error"] == "unsupported_grant_type"


# --- Key Vault --------------------------------------------------------------------------------------------


def _vault_challenge(reply: requests.Response, azure_emulator) -> None:
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == (
        f'Bearer authorization="{azure_emulator.authority}{azure_emulator.tenant_id}", resource="{VAULT}"'
    )
    assert reply.json() == {
        "error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}
    }


def test_vault_challenges_before_any_routing(azure_emulator, http):
    base = azure_emulator.vault.url
    # A bodyless PUT to a missing secret, a bad name and an unknown route all get the challenge first.
    _vault_challenge(
        http.put(f"{base}secrets/new-one?api-version=2026-04-01", headers={"Content-Length": "0"}), azure_emulator
    )
    _vault_challenge(http.get(f"{base}secrets/bad_name/?api-version=7.5"), azure_emulator)
    _vault_challenge(http.get(f"{base}no/such/route"), azure_emulator)


def test_vault_trailing_slash_means_latest_and_ids_are_absolute(azure_emulator, http):
    vault = azure_emulator.vault
    vault.set_secret("slashy", "old")
    newest = vault.set_secret("slashy", "new")
    token = azure_emulator.issue_token(VAULT).access_token
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("secrets/slashy/", "secrets/slashy", "secrets/SLASHY/"):
        body = http.get(f"{vault.url}{path}?api-version=7.4", headers=headers).json()
        assert body["value"] == "new"
        assert body["id"] == f"{vault.url}secrets/slashy/{newest.version}"
        assert re.fullmatch(r"[0-9a-f]{32}", body["id"].rsplit("/", 1)[1])
        assert isinstance(body["attributes"]["created"], int)


def test_vault_rejects_expired_wrong_tenant_and_forged_tokens(azure_emulator, http):
    url = f"{azure_emulator.vault.url}secrets/x/?api-version=7.5"
    expired = azure_emulator.issue_token(VAULT, lifetime=-10).access_token
    reply = http.get(url, headers={"Authorization": f"Bearer {expired}"})
    assert reply.status_code == 401 and "expired" in reply.json()["error"]["message"]
    assert reply.headers["WWW-Authenticate"].startswith("Bearer authorization=")
    other = azure_emulator.directory.add_tenant()
    foreign = azure_emulator.issue_token(VAULT, tenant_id=other.tenant_id).access_token
    message = http.get(url, headers={"Authorization": f"Bearer {foreign}"}).json()["error"]["message"]
    assert message.startswith("AKV10032: Invalid issuer.")
    header, payload, signature = azure_emulator.issue_token(VAULT).access_token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert http.get(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_vault_list_caps_maxresults_at_25(azure_emulator, http):
    token = azure_emulator.issue_token(VAULT).access_token
    reply = http.get(
        f"{azure_emulator.vault.url}secrets?api-version=7.5&maxresults=26", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "BadParameter"


def test_vault_accepts_any_api_version(azure_emulator, http):
    azure_emulator.vault.set_secret("versioned-api", "ok")
    token = azure_emulator.issue_token(VAULT).access_token
    for api_version in ("7.0", "7.5", "2025-07-01", "2026-04-01"):
        reply = http.get(
            f"{azure_emulator.vault.url}secrets/versioned-api/?api-version={api_version}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.json()["value"] == "ok"


def test_tokens_carry_v1_lifetime_claims_azurite_checks(azure_emulator):
    claims = azure_emulator.issuer.verify(azure_emulator.issue_token("https://storage.azure.com").access_token)
    assert {"iat", "nbf", "exp"} <= claims.keys()
    assert claims["nbf"] <= time.time() < claims["exp"]


def test_managed_identity_token_cache_answers_one_token_until_half_its_lifetime(azure_emulator, http):
    """``reuse_managed_identity_tokens``: as Azure's endpoints cache tokens, every host answers the same identity
    and resource with one token (IMDS's ``expires_in`` then says what is left of it) until half its lifetime has
    passed; another resource gets its own; off (the default), each request gets a new token."""
    app_service = azure_emulator.app_service_env()
    imds = azure_emulator.imds_env()["AZURE_POD_IDENTITY_AUTHORITY_HOST"] + "/metadata/identity/oauth2/token"

    def app_service_token(resource: str = VAULT) -> str:
        reply = http.get(
            app_service["IDENTITY_ENDPOINT"],
            params={"api-version": "2019-08-01", "resource": resource},
            headers={"X-IDENTITY-HEADER": app_service["IDENTITY_HEADER"]},
        )
        assert reply.status_code == 200, reply.text
        return str(reply.json()["access_token"])

    def imds_reply() -> dict[str, str]:
        params = {"api-version": "2018-02-01", "resource": VAULT}
        reply = http.get(imds, params=params, headers={"Metadata": "true"})
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    assert app_service_token() != app_service_token()
    azure_emulator.configure(reuse_managed_identity_tokens=True, managed_identity_token_lifetime=6)
    try:
        first = app_service_token()
        assert app_service_token() == first
        assert imds_reply()["access_token"] == first  # the same identity (system-assigned) on another host
        assert app_service_token("https://storage.azure.com/") != first
        time.sleep(1.1)
        assert int(imds_reply()["expires_in"]) <= 5  # what is left, not the whole lifetime
        time.sleep(2.2)  # past half of the 6 s
        assert app_service_token() != first
    finally:
        azure_emulator.configure(reuse_managed_identity_tokens=False, managed_identity_token_lifetime=86399)
