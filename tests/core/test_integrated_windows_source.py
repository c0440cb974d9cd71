"""RunAs=CurrentUser: integrated Windows authentication is refused honestly, never faked."""

from __future__ import annotations

import pytest

from appauth_core.errors import AzureServiceTokenProviderError, SourceUnavailableError
from appauth_core.sources.base import TokenRequest, TokenSource
from appauth_core.sources.integrated_windows import IntegratedWindowsSource


def test_says_it_is_not_available_and_what_to_use_instead():
    source = IntegratedWindowsSource()
    request = TokenRequest("https://vault.azure.net", tenant_id="contoso.onmicrosoft.com")
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        source.get_token(request)
    message = str(raised.value)
    assert "Integrated Windows authentication (Kerberos) is not available on this platform yet in appauth" in message
    assert "RunAs=Developer; DeveloperTool=AzureCli" in message
    assert "AppId" in message  # the service-principal alternative
    assert not isinstance(raised.value, SourceUnavailableError)  # asked for explicitly: no silent fallback
    assert raised.value.method == "Integrated Windows authentication"
    assert raised.value.resource == "https://vault.azure.net"
    assert raised.value.authority == "https://login.microsoftonline.com/contoso.onmicrosoft.com"


def test_names():
    source = IntegratedWindowsSource()
    assert isinstance(source, TokenSource)
    assert source.name == "Integrated Windows authentication"
    assert source.cache_identity == "current-user"
