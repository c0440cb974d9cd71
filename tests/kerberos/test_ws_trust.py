"""The XML half of integrated Windows authentication, without Kerberos."""

from __future__ import annotations

import pytest

from appauth_core.testing._federation import FederationStandIn
from appauth_core.tokens.sources import _ws_trust as ws_trust


def _mex(versions):
    federation = FederationStandIn()
    federation.base_url = "https://adfs.contoso.test/"
    domain = federation.federate("contoso.test", "tid", "/nonexistent", ws_trust_versions=versions)
    return federation._mex(domain).body


def test_prefers_ws_trust_13_and_ignores_username_endpoints():
    endpoint = ws_trust.windows_transport_endpoint(_mex(("2005", "13")))
    assert endpoint.url == "https://adfs.contoso.test/contoso.test/adfs/services/trust/13/windowstransport"
    assert endpoint.version is ws_trust.WS_TRUST_13


def test_falls_back_to_2005():
    endpoint = ws_trust.windows_transport_endpoint(_mex(("2005",)))
    assert endpoint.url.endswith("/2005/windowstransport")
    assert endpoint.version is ws_trust.WS_TRUST_2005


def test_no_integrated_endpoint():
    with pytest.raises(ws_trust.WsTrustError, match="no WS-Trust windowstransport"):
        ws_trust.windows_transport_endpoint(_mex(()))


def test_not_xml():
    with pytest.raises(ws_trust.WsTrustError, match="not well-formed"):
        ws_trust.windows_transport_endpoint(b"<html>")


def test_fault_text():
    fault = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender'
        "</s:Value><s:Subcode><s:Value>a:FailedAuthentication</s:Value></s:Subcode></s:Code><s:Reason>"
        '<s:Text xml:lang="en-US">ID3242: no</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>'
    )
    assert ws_trust.soap_fault(fault) == "a:FailedAuthentication: ID3242: no"
    assert ws_trust.soap_fault("<ok/>") is None
