"""The XML half of ADAL's integrated Windows authentication: find the WS-Trust ``windowstransport``
endpoint in a federation server's WS-MetadataExchange document, build the RequestSecurityToken, and take
the SAML assertion out of the reply. No HTTP here (see ``_integrated_windows.py``).

Follows what ADAL (.NET and Python) did: an endpoint counts as integrated when its binding's policy holds
``NegotiateAuthentication`` and it is https; WS-Trust 1.3 is preferred over 2005.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP12_WSDL = "http://schemas.xmlsoap.org/wsdl/soap12/"
WSP = "http://schemas.xmlsoap.org/ws/2004/09/policy"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSA10 = "http://www.w3.org/2005/08/addressing"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NEGOTIATE = "{http://schemas.microsoft.com/ws/06/2004/policy/http}NegotiateAuthentication"
SAML1_TOKEN_TYPE = "urn:oasis:names:tc:SAML:1.0:assertion"
SAML2_TOKEN_TYPE = "urn:oasis:names:tc:SAML:2.0:assertion"
SAML1_GRANT = "urn:ietf:params:oauth:grant-type:saml1_1-bearer"
SAML2_GRANT = "urn:ietf:params:oauth:grant-type:saml2-bearer"
DEFAULT_AUDIENCE = "urn:federation:MicrosoftOnline"


@dataclass(frozen=True)
class TrustVersion:
    name: str  # "1.3" or "2005"
    namespace: str
    action: str
    request_type: str
    key_type: str


WS_TRUST_13 = TrustVersion(
    "1.3",
    "http://docs.oasis-open.org/ws-sx/ws-trust/200512",
    "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue",
    "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
    "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer",
)
WS_TRUST_2005 = TrustVersion(
    "2005",
    "http://schemas.xmlsoap.org/ws/2005/02/trust",
    "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue",
    "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
)
_BY_ACTION = {v.action: v for v in (WS_TRUST_13, WS_TRUST_2005)}


class WsTrustError(Exception):
    """The federation server's XML did not hold what integrated sign-in needs; the text says what."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    version: TrustVersion


@dataclass(frozen=True)
class Assertion:
    xml: str  # exactly as the federation server sent it: its signature covers these bytes
    token_type: str

    @property
    def grant_type(self) -> str:
        return SAML2_GRANT if self.token_type == SAML2_TOKEN_TYPE else SAML1_GRANT

    def __repr__(self) -> str:
        return f"Assertion(token_type={self.token_type!r})"


def _parse(text: bytes | str, what: str) -> ET.Element:
    try:
        return ET.fromstring(text)  # noqa: S314 - see the import
    except ET.ParseError as exc:
        raise WsTrustError(f"the {what} is not well-formed XML ({exc})") from None


def windows_transport_endpoint(mex: bytes | str) -> Endpoint:
    """The integrated (Kerberos) WS-Trust endpoint of a MEX document: 1.3 if offered, else 2005."""
    root = _parse(mex, "federation metadata (MEX) document")
    negotiate_policies = {
        policy.get(f"{{{WSU}}}Id")
        for policy in root.iter(f"{{{WSP}}}Policy")
        if policy.find(f".//{NEGOTIATE}") is not None
    }
    bindings: dict[str, TrustVersion] = {}
    for binding in root.iter(f"{{{WSDL}}}binding"):
        reference = binding.find(f"{{{WSP}}}PolicyReference")
        if reference is None or (reference.get("URI") or "").lstrip("#") not in negotiate_policies:
            continue
        soap = binding.find(f"{{{SOAP12_WSDL}}}binding")
        if soap is None or soap.get("transport") != "http://schemas.xmlsoap.org/soap/http":
            continue
        for operation in binding.iter(f"{{{SOAP12_WSDL}}}operation"):
            version = _BY_ACTION.get(operation.get("soapAction") or "")
            if version is not None:
                bindings[binding.get("name") or ""] = version
    found: dict[str, Endpoint] = {}
    for port in root.iter(f"{{{WSDL}}}port"):
        version = bindings.get((port.get("binding") or "").split(":")[-1])
        address = port.findtext(f"{{{WSA10}}}EndpointReference/{{{WSA10}}}Address")
        if address is None:
            soap_address = port.find(f"{{{SOAP12_WSDL}}}address")
            address = soap_address.get("location") if soap_address is not None else None
        if version is not None and address and address.strip().lower().startswith("https://"):
            found.setdefault(version.name, Endpoint(address.strip(), version))
    endpoint = found.get("1.3") or found.get("2005")
    if endpoint is None:
        raise WsTrustError("it offers no WS-Trust windowstransport (integrated Windows authentication) endpoint")
    return endpoint


def request_security_token(endpoint: Endpoint, audience: str = DEFAULT_AUDIENCE) -> str:
    """A bearer-token RST for ``audience`` with no credentials inside: the transport (Negotiate) carries them."""
    version = endpoint.version
    return (
        f'<s:Envelope xmlns:s="{SOAP12}" xmlns:wsa="{WSA10}" xmlns:wsu="{WSU}"><s:Header>'
        f'<wsa:Action s:mustUnderstand="1">{version.action}</wsa:Action>'
        f"<wsa:messageID>urn:uuid:{uuid.uuid4()}</wsa:messageID>"
        f"<wsa:ReplyTo><wsa:Address>{WSA10}/anonymous</wsa:Address></wsa:ReplyTo>"
        f'<wsa:To s:mustUnderstand="1">{escape(endpoint.url)}</wsa:To></s:Header><s:Body>'
        f'<wst:RequestSecurityToken xmlns:wst="{version.namespace}">'
        f'<wsp:AppliesTo xmlns:wsp="{WSP}"><wsa:EndpointReference><wsa:Address>{escape(audience)}</wsa:Address>'
        "</wsa:EndpointReference></wsp:AppliesTo>"
        f"<wst:KeyType>{version.key_type}</wst:KeyType>"
        f"<wst:RequestType>{version.request_type}</wst:RequestType>"
        "</wst:RequestSecurityToken></s:Body></s:Envelope>"
    )


def soap_fault(text: bytes | str) -> str | None:
    """The fault's code and reason ("a:FailedAuthentication: MSIS3127 ..."), or None if it is not a fault."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - see the import
    except ET.ParseError:
        return None
    fault = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    if fault is None:
        return None
    codes = [value.text or "" for value in fault.iter(f"{{{SOAP12}}}Value")]
    reason = " ".join((t.text or "").strip() for t in fault.iter(f"{{{SOAP12}}}Text")).strip()
    code = codes[-1] if codes else "Fault"
    return f"{code}: {reason}" if reason else code


_ASSERTION = re.compile(r"<((?:[\w.-]+:)?Assertion)\b.*?</\1>", re.DOTALL)


def assertion_from_response(text: str, version: TrustVersion) -> Assertion:
    """The SAML assertion of a RequestSecurityTokenResponse, as the exact text that was signed."""
    root = _parse(text, "WS-Trust response")
    token_type = ""
    requested = None
    for response in root.iter(f"{{{version.namespace}}}RequestSecurityTokenResponse"):
        token_type = (response.findtext(f"{{{version.namespace}}}TokenType") or "").strip()
        requested = response.find(f"{{{version.namespace}}}RequestedSecurityToken")
        if requested is not None:
            break
    if requested is None or len(requested) == 0:
        raise WsTrustError("the WS-Trust response holds no RequestedSecurityToken")
    tag = requested[0].tag
    if not token_type:
        token_type = SAML2_TOKEN_TYPE if tag == f"{{{SAML2_TOKEN_TYPE}}}Assertion" else SAML1_TOKEN_TYPE
    if token_type not in (SAML1_TOKEN_TYPE, SAML2_TOKEN_TYPE) or not tag.endswith("}Assertion"):
        raise WsTrustError(f"the WS-Trust response holds a token of type '{token_type}', not a SAML assertion")
    # The bytes as sent (ADAL does the same): re-serialising the parsed tree would break the signature.
    match = _ASSERTION.search(text[text.find("RequestedSecurityToken") :])
    if match is None:
        raise WsTrustError("the SAML assertion in the WS-Trust response could not be cut out")
    return Assertion(match.group(0), token_type)
