"""RunAs=CurrentUser without Kerberos: unavailable at once, saying what to do. The real flow, over a real
KDC, is tested in tests/kerberos."""

from __future__ import annotations

import builtins
import time

import pytest

from appauth_core.errors import AzureServiceTokenProviderError, SourceUnavailableError
from appauth_core.tokens.sources._base import TokenRequest, TokenSource
from appauth_core.tokens.sources._integrated_windows import IntegratedWindowsSource

REQUEST = TokenRequest("https://vault.azure.net", tenant_id="contoso.onmicrosoft.com")


def test_no_kerberos_ticket_is_unavailable_and_says_to_kinit(monkeypatch, tmp_path):
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/none")
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as raised:
        IntegratedWindowsSource().get_token(REQUEST)
    assert time.monotonic() - started < 2  # no network: the default chain is not slowed down
    message = str(raised.value)
    assert "No Kerberos ticket for the current user: run `kinit user@REALM`" in message
    assert raised.value.method == "Integrated Windows authentication"
    assert raised.value.resource == "https://vault.azure.net"
    assert raised.value.authority == "https://login.microsoftonline.com/contoso.onmicrosoft.com"


def test_without_the_kerberos_extra_it_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_spnego(name, *args, **kwargs):
        if name in ("spnego", "gssapi"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_spnego)
    with pytest.raises(SourceUnavailableError, match=r"pip install 'appauth\[kerberos\]'"):
        IntegratedWindowsSource().get_token(REQUEST)


def test_a_bad_tenant_is_refused():
    with pytest.raises(AzureServiceTokenProviderError, match="not a valid tenant"):
        IntegratedWindowsSource().get_token(TokenRequest("https://vault.azure.net", tenant_id="a/b"))


def test_names():
    source = IntegratedWindowsSource()
    assert isinstance(source, TokenSource)
    assert source.name == "Integrated Windows authentication"
    assert source.cache_identity.startswith("current-user:")  # who: tests/hardening/test_security_identity.py
    assert repr(IntegratedWindowsSource(upn="alice@contoso.com")) == "IntegratedWindowsSource(upn='alice@contoso.com')"
