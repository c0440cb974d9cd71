"""RunAs=CurrentUser against a real MIT KDC on loopback: the Kerberos ticket (kinit), the SPNEGO token
and its validation with the federation server's keytab are all real; the federation server (ADFS) and
Entra ID are the emulator's stand-ins."""

from __future__ import annotations

import base64
import socket
import time
import uuid

import pytest

from appauth_core import AzureServiceTokenProvider
from appauth_core.errors import AzureServiceTokenProviderError, SourceUnavailableError
from appauth_core.tokens import TokenCache
from appauth_core.tokens.sources._base import TokenRequest
from appauth_core.tokens.sources._integrated_windows import CLIENT_ID, IntegratedWindowsSource, upn_for_principal

from .conftest import DOMAIN, Kdc

VAULT = "https://vault.azure.net"


def _federate(emulator, kdc: Kdc, domain: str = DOMAIN, **options):
    """Federate ``domain`` with the emulator's ADFS stand-in and give it alice (Kerberos alice@CONTOSO.TEST)."""
    federated = emulator.federation.federate(domain, emulator.tenant_id, kdc.keytab, **options)
    emulator.federation.add_user(f"alice@{domain}", kdc.principal)
    return federated


@pytest.fixture
def contoso(azure_emulator, azure_emulator_env, kdc):
    return _federate(azure_emulator, kdc)


def _other_domain() -> str:
    return f"d{uuid.uuid4().hex[:8]}.test"


def _request(emulator) -> TokenRequest:
    return TokenRequest(VAULT, authority_host=emulator.authority)


def test_run_as_current_user_gets_a_user_token_over_real_kerberos(azure_emulator, contoso, kdc):
    provider = AzureServiceTokenProvider(
        "RunAs=CurrentUser", azure_ad_instance=azure_emulator.authority, cache=TokenCache()
    )
    before = time.time()
    token = provider.get_access_token(VAULT)
    claims = azure_emulator.issuer.verify(token)
    user = contoso.users["alice@contoso.test"]
    assert claims["aud"] == VAULT
    assert claims["upn"] == claims["unique_name"] == "alice@contoso.test"
    assert claims["oid"] == user.object_id
    assert claims["tid"] == azure_emulator.tenant_id
    assert claims["amr"] == ["pwd", "wia"]
    assert claims["scp"] == "user_impersonation"
    assert claims["appid"] == CLIENT_ID
    assert claims["idtyp"] == "user"
    assert claims["exp"] > before + 3000
    principal = provider.principal_used
    assert principal is not None
    assert principal.type == "User"
    assert principal.user_principal_name == "alice@contoso.test"
    assert principal.tenant_id == azure_emulator.tenant_id
    for endpoint in ("entra.userrealm", "adfs.mex", "adfs.windowstransport", "entra.token"):
        assert azure_emulator.counters[endpoint] == 1, endpoint
    # The KDC really issued a service ticket for the federation server.
    assert "HTTP/localhost@CONTOSO.TEST" in kdc.run("klist")


def test_saml2_over_ws_trust_2005_with_a_configured_upn(azure_emulator, azure_emulator_env, kdc, monkeypatch):
    domain = _other_domain()
    _federate(azure_emulator, kdc, domain, saml_version="2.0", ws_trust_versions=("2005",))
    monkeypatch.setenv("APPAUTH_USER_PRINCIPAL_NAME", f"alice@{domain}")
    token = IntegratedWindowsSource().get_token(_request(azure_emulator))
    claims = azure_emulator.issuer.verify(token.access_token)
    assert claims["upn"] == f"alice@{domain}"
    assert token.expires_on == claims["exp"]


def test_the_default_chain_reaches_it_when_nothing_earlier_works(azure_emulator, contoso, kdc, monkeypatch, tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", dead)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    provider = AzureServiceTokenProvider(azure_ad_instance=azure_emulator.authority, cache=TokenCache())
    token = provider.get_access_token(VAULT)
    assert azure_emulator.issuer.verify(token)["upn"] == "alice@contoso.test"
    assert provider.principal_used is not None and provider.principal_used.type == "User"


def test_no_kerberos_ticket_is_unavailable_at_once_without_network(azure_emulator, contoso, monkeypatch, tmp_path):
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/no-such-ccache")
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as raised:
        IntegratedWindowsSource().get_token(_request(azure_emulator))
    assert time.monotonic() - started < 2
    assert "No Kerberos ticket" in str(raised.value)
    assert "run `kinit user@REALM`" in str(raised.value)
    assert raised.value.method == "Integrated Windows authentication"
    assert azure_emulator.counters["entra.userrealm"] == 0


def test_a_managed_account_is_told_apart(azure_emulator, azure_emulator_env, kdc):
    domain = _other_domain()
    azure_emulator.federation.add_managed_domain(domain, azure_emulator.tenant_id)
    source = IntegratedWindowsSource(upn=f"alice@{domain}")
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        source.get_token(_request(azure_emulator))
    message = str(raised.value)
    assert not isinstance(raised.value, SourceUnavailableError)
    assert f"alice@{domain} is in a managed (cloud-only) domain" in message
    assert "az login" in message
    assert azure_emulator.counters["adfs.mex"] == 0


def test_an_unknown_domain_is_told_apart(azure_emulator, azure_emulator_env, kdc):
    source = IntegratedWindowsSource(upn="alice@nowhere.invalid")
    with pytest.raises(AzureServiceTokenProviderError, match=r"does not know the domain .*APPAUTH_USER_PRINCIPAL_NAME"):
        source.get_token(_request(azure_emulator))


def test_no_windowstransport_endpoint(azure_emulator, azure_emulator_env, kdc):
    domain = _other_domain()
    _federate(azure_emulator, kdc, domain, ws_trust_versions=())
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        IntegratedWindowsSource(upn=f"alice@{domain}").get_token(_request(azure_emulator))
    message = str(raised.value)
    assert "offers no WS-Trust windowstransport" in message
    assert "Enable-AdfsEndpoint" in message
    assert azure_emulator.counters["adfs.windowstransport"] == 0


def test_kdc_unreachable(azure_emulator, contoso, kdc, monkeypatch, tmp_path):
    # A fresh cache holds only the ticket-granting ticket: the service ticket must come from the KDC.
    ccache = f"FILE:{tmp_path}/tgt-only.ccache"
    kdc.kinit(ccache)
    monkeypatch.setenv("KRB5CCNAME", ccache)
    kdc.stop()
    try:
        with pytest.raises(AzureServiceTokenProviderError) as raised:
            IntegratedWindowsSource().get_token(_request(azure_emulator))
    finally:
        kdc.start()
    message = str(raised.value)
    assert not isinstance(raised.value, SourceUnavailableError)
    assert "Could not reach a Kerberos KDC" in message
    assert "HTTP/localhost" in message
    assert azure_emulator.counters["adfs.windowstransport"] == 0


def test_assertion_refused_by_entra(azure_emulator, azure_emulator_env, kdc):
    domain = _other_domain()
    federated = _federate(azure_emulator, kdc, domain)
    federated.rotate_signing_key(tell_entra=False)  # ADFS rolled its certificate; Entra was not told
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        IntegratedWindowsSource(upn=f"alice@{domain}").get_token(_request(azure_emulator))
    message = str(raised.value)
    assert "Entra ID refused the federation server's SAML assertion" in message
    assert "AADSTS50008" in message
    assert "federation trust" in message
    assert "<" not in message  # no assertion XML
    assert azure_emulator.counters["adfs.windowstransport"] == 1


def test_federation_server_refuses_an_unknown_windows_account(azure_emulator, azure_emulator_env, kdc):
    domain = _other_domain()
    azure_emulator.federation.federate(domain, azure_emulator.tenant_id, kdc.keytab)  # no users
    with pytest.raises(AzureServiceTokenProviderError, match=r"did not issue an assertion .*MSIS3127"):
        IntegratedWindowsSource(upn=f"alice@{domain}").get_token(_request(azure_emulator))


def test_a_forged_spnego_token_is_refused_by_the_stand_in(azure_emulator, azure_emulator_env, contoso):
    import requests

    url = f"{azure_emulator.federation.base_url}contoso.test/adfs/services/trust/13/windowstransport"
    reply = requests.post(
        url, data=b"<x/>", headers={"Authorization": "Negotiate " + base64.b64encode(b"forged").decode()}, timeout=10
    )
    assert reply.status_code == 401


def test_realm_to_upn():
    assert upn_for_principal("alice@CONTOSO.COM") == "alice@contoso.com"
    assert upn_for_principal("alice") == "alice"
