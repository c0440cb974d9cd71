"""An on-premises directory federated with the emulated Entra ID: what integrated Windows authentication
(``RunAs=CurrentUser``) talks to.

- Entra's user-realm discovery (``GET /common/userrealm/{upn}?api-version=1.0``): "Federated" with the
  federation server's metadata URL, or "Managed" for a cloud-only domain, "Unknown" for anything else.
- An ADFS-like federation server on ``https://localhost:<port>/{domain}/adfs/services/trust/...``:
  the WS-MetadataExchange document (``mex``) and the WS-Trust ``windowstransport`` endpoints (1.3 and
  2005). These validate the ``Authorization: Negotiate`` SPNEGO token for real, with GSSAPI and the
  service's keytab (``HTTP/localhost``), and answer with a signed SAML 1.1 (or 2.0) assertion for the
  Kerberos principal's user.
- Entra's SAML bearer grants (``urn:ietf:params:oauth:grant-type:saml1_1-bearer`` / ``saml2-bearer``):
  verify the assertion against the federation's signing certificate and issue a v1 user token.

The signature is deliberately simple: an RSA-SHA256 signature over the canonical form (C14N 2.0) of the
assertion without its ``ds:Signature`` element, carried in a ``ds:Signature`` element with the signing
certificate. Real ADFS signs with full XML-DSig (exclusive C14N, enveloped-signature transform), and
Entra verifies that against the token-signing certificate registered for the federated domain; only this
stand-in ever verifies what this stand-in issued, so the simple form is enough and needs no XML-DSig
dependency.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ._directory import new_guid, self_signed
from ._http import Request, Response

SAML1_NS = "urn:oasis:names:tc:SAML:1.0:assertion"
SAML2_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
WSA_NS = "http://www.w3.org/2005/08/addressing"
WST13_NS = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
WST2005_NS = "http://schemas.xmlsoap.org/ws/2005/02/trust"
SAML1_GRANT = "urn:ietf:params:oauth:grant-type:saml1_1-bearer"
SAML2_GRANT = "urn:ietf:params:oauth:grant-type:saml2-bearer"
AUDIENCE = "urn:federation:MicrosoftOnline"
WINDOWS_AUTHN = "urn:federation:authentication:windows"
NEGOTIATE_POLICY = "http://schemas.microsoft.com/ws/06/2004/policy/http/NegotiateAuthentication"
ASSERTION_LIFETIME = 3600
_SKEW = 300

_TRUST = {
    "13": (WST13_NS, "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"),
    "2005": (WST2005_NS, "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue"),
}


class AssertionRejected(Exception):
    """Entra's reason for refusing an assertion: (AADSTS code, message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class FederatedUser:
    upn: str
    kerberos_principal: str  # "alice@CONTOSO.TEST"
    object_id: str = field(default_factory=new_guid)
    immutable_id: str = field(default_factory=lambda: base64.b64encode(uuid.uuid4().bytes).decode())
    display_name: str = ""


@dataclass
class FederatedDomain:
    """A verified domain of a tenant whose sign-in is delegated to an ADFS-like federation server."""

    domain: str
    tenant_id: str
    keytab: Path  # holds HTTP/<service_host>: the federation server's Kerberos key
    service_host: str = "localhost"
    saml_version: str = "1.1"  # what the windowstransport endpoints issue: "1.1" or "2.0"
    ws_trust_versions: tuple[str, ...] = ("13", "2005")  # windowstransport endpoints in the MEX document
    users: dict[str, FederatedUser] = field(default_factory=dict)  # by lower-case UPN
    _key: rsa.RSAPrivateKey = field(init=False, repr=False)
    _certificate: x509.Certificate = field(init=False, repr=False)
    trusted_certificate: x509.Certificate = field(init=False, repr=False)  # what Entra has for the domain

    def __post_init__(self) -> None:
        self.rotate_signing_key(tell_entra=True)

    @property
    def issuer_uri(self) -> str:
        """ADFS's "Federation Service Identifier", the assertion's Issuer, and Entra's IssuerUri."""
        return f"http://{self.domain}/adfs/services/trust/"

    def rotate_signing_key(self, *, tell_entra: bool) -> None:
        """A new token-signing certificate; ``tell_entra=False`` leaves Entra trusting the old one (the
        federation trust out of date, as after an ADFS certificate roll-over nobody propagated)."""
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._certificate = self_signed(
            self._key, f"ADFS Signing - {self.domain}", backdate=dt.timedelta(days=1), lifetime=dt.timedelta(days=365)
        )
        if tell_entra:
            self.trusted_certificate = self._certificate

    def user_for_principal(self, principal: str) -> FederatedUser | None:
        for user in self.users.values():
            if user.kerberos_principal.lower() == principal.lower():
                return user
        return None

    # --- the simple signature -----------------------------------------------------------------

    def sign(self, assertion: ET.Element) -> str:
        """The assertion with a ``ds:Signature`` appended, as text that declares its own namespaces."""
        unsigned = ET.fromstring(ET.tostring(assertion, encoding="unicode"))  # noqa: S314 - our own text
        signed_info = _signed_info(unsigned)
        signature_value = self._key.sign(_canonical(signed_info), padding.PKCS1v15(), hashes.SHA256())
        signature = ET.SubElement(unsigned, f"{{{DS_NS}}}Signature")
        signature.append(signed_info)
        ET.SubElement(signature, f"{{{DS_NS}}}SignatureValue").text = base64.b64encode(signature_value).decode()
        key_info = ET.SubElement(signature, f"{{{DS_NS}}}KeyInfo")
        x509_data = ET.SubElement(key_info, f"{{{DS_NS}}}X509Data")
        der = self._certificate.public_bytes(serialization.Encoding.DER)
        ET.SubElement(x509_data, f"{{{DS_NS}}}X509Certificate").text = base64.b64encode(der).decode()
        return ET.tostring(unsigned, encoding="unicode")


def _canonical(element: ET.Element) -> bytes:
    return ET.canonicalize(ET.tostring(element, encoding="unicode")).encode()


def _signed_info(unsigned: ET.Element) -> ET.Element:
    digest = base64.b64encode(hashlib.sha256(_canonical(unsigned)).digest()).decode()
    signed_info = ET.Element(f"{{{DS_NS}}}SignedInfo")
    ET.SubElement(
        signed_info, f"{{{DS_NS}}}SignatureMethod", Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    ET.SubElement(signed_info, f"{{{DS_NS}}}DigestValue").text = digest
    return signed_info


def _verify_signature(assertion: ET.Element, certificate: x509.Certificate) -> None:
    signature = assertion.find(f"{{{DS_NS}}}Signature")
    if signature is None:
        raise AssertionRejected(50008, "SAML token is invalid: it is not signed.")
    signed_info = signature.find(f"{{{DS_NS}}}SignedInfo")
    value = signature.findtext(f"{{{DS_NS}}}SignatureValue") or ""
    assertion.remove(signature)
    expected = _signed_info(assertion)
    key = certificate.public_key()
    try:
        if signed_info is None or _canonical(signed_info) != _canonical(expected):
            raise InvalidSignature
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(base64.b64decode(value), _canonical(expected), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as exc:
        raise AssertionRejected(
            50008,
            "Unable to verify token signature. The signing key identifier does not match any valid registered keys.",
        ) from exc


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_iso(text: str | None) -> dt.datetime:
    if not text:
        raise AssertionRejected(50013, "Assertion is invalid: it has no validity period.")
    return dt.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class AssertedUser:
    """What Entra read from a verified assertion."""

    domain: FederatedDomain
    user: FederatedUser


class FederationStandIn:
    """The federated domains of the emulated directory and their ADFS-like federation server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.domains: dict[str, FederatedDomain] = {}
        self.managed_domains: dict[str, str] = {}  # domain -> tenant id
        self.base_url = ""  # https://localhost:<port>/ once the emulator runs

    def federate(self, domain: str, tenant_id: str, keytab: str | Path, **options: Any) -> FederatedDomain:
        federated = FederatedDomain(domain.lower(), tenant_id, Path(keytab), **options)
        with self._lock:
            self.domains[federated.domain] = federated
        return federated

    def add_managed_domain(self, domain: str, tenant_id: str) -> None:
        with self._lock:
            self.managed_domains[domain.lower()] = tenant_id

    def add_user(self, upn: str, kerberos_principal: str) -> FederatedUser:
        domain = self.domains[upn.rsplit("@", 1)[-1].lower()]
        user = FederatedUser(upn, kerberos_principal, display_name=upn.split("@")[0])
        with self._lock:
            domain.users[upn.lower()] = user
        return user

    def _domain_by_issuer(self, issuer: str) -> FederatedDomain | None:
        with self._lock:
            return next((d for d in self.domains.values() if d.issuer_uri == issuer), None)

    # --- Entra: user realm discovery ------------------------------------------------------------

    def user_realm(self, request: Request) -> Response:
        upn = request.path.rstrip("/").rsplit("/", 1)[-1]
        domain_name = upn.rsplit("@", 1)[-1].lower() if "@" in upn else ""
        base = {"ver": "1.0", "domain_name": domain_name, "cloud_instance_name": "appauth.emulator"}
        federated = self.domains.get(domain_name)
        if federated is not None:
            prefix = f"{self.base_url}{federated.domain}/adfs/services/trust"
            body = {
                **base,
                "account_type": "Federated",
                "federation_protocol": "WSTrust",
                "federation_metadata_url": f"{prefix}/mex",
                "federation_active_auth_url": f"{prefix}/2005/usernamemixed",
                "cloud_audience_urn": AUDIENCE,
            }
        elif domain_name in self.managed_domains:
            body = {**base, "account_type": "Managed"}
        else:
            body = {**base, "account_type": "Unknown"}
        return Response.json(200, body)

    # --- the federation server ------------------------------------------------------------------

    def route(self, request: Request) -> tuple[str, Any]:
        parts = [p for p in request.path.split("/") if p]
        domain = self.domains.get(parts[0].lower()) if parts else None
        if domain is not None and parts[1:4] == ["adfs", "services", "trust"]:
            rest = parts[4:]
            if request.method == "GET" and rest == ["mex"]:
                return "adfs.mex", lambda r: self._mex(domain)
            if request.method == "POST" and len(rest) == 2 and rest[1] == "windowstransport":
                version = rest[0]
                if version in _TRUST and version in domain.ws_trust_versions:
                    return "adfs.windowstransport", lambda r: self._windows_transport(r, domain, version)
        return "adfs.unknown", lambda r: Response(404, b"Not Found", {"Content-Type": "text/plain"})

    def _mex(self, domain: FederatedDomain) -> Response:
        prefix = f"{self.base_url}{domain.domain}/adfs/services/trust"
        bindings, ports = [], []
        # A username endpoint ADFS always publishes; a client must not take it for the integrated one.
        policies = [
            '<wsp:Policy wsu:Id="UserNameWSTrustBinding_IWSTrust13Async_policy"><wsp:ExactlyOne><wsp:All>'
            "<sp:TransportBinding/></wsp:All></wsp:ExactlyOne></wsp:Policy>",
        ]
        bindings.append(
            '<wsdl:binding name="UserNameWSTrustBinding_IWSTrust13Async" type="tns:IWSTrust13Async">'
            '<wsp:PolicyReference URI="#UserNameWSTrustBinding_IWSTrust13Async_policy"/>'
            '<soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>'
            '<wsdl:operation name="Trust13IssueAsync"><soap12:operation '
            'soapAction="http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue" style="document"/>'
            "</wsdl:operation></wsdl:binding>"
        )
        ports.append(
            '<wsdl:port name="UserNameWSTrustBinding_IWSTrust13Async" '
            'binding="tns:UserNameWSTrustBinding_IWSTrust13Async">'
            f'<soap12:address location="{prefix}/13/usernamemixed"/>'
            f"<wsa10:EndpointReference><wsa10:Address>{prefix}/13/usernamemixed</wsa10:Address>"
            "</wsa10:EndpointReference></wsdl:port>"
        )
        for version in domain.ws_trust_versions:
            name = "IWSTrust13Async" if version == "13" else "IWSTrustFeb2005Async"
            binding = f"WindowsTransportBinding_{name}"
            policies.append(
                f'<wsp:Policy wsu:Id="{binding}_policy"><wsp:ExactlyOne><wsp:All>'
                f'<http:NegotiateAuthentication xmlns:http="http://schemas.microsoft.com/ws/06/2004/policy/http"/>'
                "<sp:TransportBinding/></wsp:All></wsp:ExactlyOne></wsp:Policy>"
            )
            bindings.append(
                f'<wsdl:binding name="{binding}" type="tns:{name}">'
                f'<wsp:PolicyReference URI="#{binding}_policy"/>'
                '<soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>'
                f'<wsdl:operation name="Issue"><soap12:operation soapAction="{_TRUST[version][1]}" '
                'style="document"/></wsdl:operation></wsdl:binding>'
            )
            ports.append(
                f'<wsdl:port name="{binding}" binding="tns:{binding}">'
                f'<soap12:address location="{prefix}/{version}/windowstransport"/>'
                f"<wsa10:EndpointReference><wsa10:Address>{prefix}/{version}/windowstransport"
                "</wsa10:Address></wsa10:EndpointReference></wsdl:port>"
            )
        document = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<wsdl:definitions name="SecurityTokenService" targetNamespace="http://tempuri.org/" '
            'xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:tns="http://tempuri.org/" '
            'xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" '
            'xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" '
            'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" '
            'xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702" '
            'xmlns:wsa10="http://www.w3.org/2005/08/addressing">'
            + "".join(policies)
            + "".join(bindings)
            + '<wsdl:service name="SecurityTokenService">'
            + "".join(ports)
            + "</wsdl:service></wsdl:definitions>"
        )
        return Response(200, document.encode(), {"Content-Type": "text/xml; charset=utf-8"})

    def _windows_transport(self, request: Request, domain: FederatedDomain, version: str) -> Response:
        authorization = request.header("authorization") or ""
        if not authorization.lower().startswith("negotiate "):
            return Response(401, b"", {"WWW-Authenticate": "Negotiate"})
        try:
            principal, reply = _accept(domain, base64.b64decode(authorization.split(" ", 1)[1].strip()))
        except Exception:  # any GSSAPI failure is IIS's plain 401
            return Response(401, b"", {"WWW-Authenticate": "Negotiate"})
        headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
        if reply:
            headers["WWW-Authenticate"] = "Negotiate " + base64.b64encode(reply).decode()
        user = domain.user_for_principal(principal)
        if user is None:
            return _soap_fault(
                version,
                "a:FailedAuthentication",
                f"MSIS3127: The Windows account '{principal}' has no user in the federated domain.",
                headers,
            )
        assertion = self._assertion(domain, user)
        trust_ns = _TRUST[version][0]
        token_type = SAML1_NS if domain.saml_version == "1.1" else SAML2_NS
        now = dt.datetime.now(dt.timezone.utc)
        body = (
            f'<s:Envelope xmlns:s="{SOAP12_NS}" xmlns:a="{WSA_NS}"><s:Header>'
            f'<a:Action s:mustUnderstand="1">{trust_ns}/RSTRC/IssueFinal</a:Action></s:Header><s:Body>'
            f'<trust:RequestSecurityTokenResponseCollection xmlns:trust="{trust_ns}">'
            "<trust:RequestSecurityTokenResponse><trust:Lifetime>"
            f'<wsu:Created xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
            f"{_iso(now)}</wsu:Created></trust:Lifetime>"
            f"<trust:TokenType>{token_type}</trust:TokenType>"
            f"<trust:RequestedSecurityToken>{assertion}</trust:RequestedSecurityToken>"
            "</trust:RequestSecurityTokenResponse></trust:RequestSecurityTokenResponseCollection>"
            "</s:Body></s:Envelope>"
        )
        return Response(200, body.encode(), headers)

    def _assertion(self, domain: FederatedDomain, user: FederatedUser) -> str:
        now = dt.datetime.now(dt.timezone.utc)
        until = now + dt.timedelta(seconds=ASSERTION_LIFETIME)
        if domain.saml_version == "2.0":
            root = ET.Element(f"{{{SAML2_NS}}}Assertion", ID=f"_{uuid.uuid4()}", Version="2.0", IssueInstant=_iso(now))
            ET.SubElement(root, f"{{{SAML2_NS}}}Issuer").text = domain.issuer_uri
            subject = ET.SubElement(root, f"{{{SAML2_NS}}}Subject")
            ET.SubElement(subject, f"{{{SAML2_NS}}}NameID").text = user.immutable_id
            ET.SubElement(subject, f"{{{SAML2_NS}}}SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer")
            conditions = ET.SubElement(root, f"{{{SAML2_NS}}}Conditions", NotBefore=_iso(now), NotOnOrAfter=_iso(until))
            restriction = ET.SubElement(conditions, f"{{{SAML2_NS}}}AudienceRestriction")
            ET.SubElement(restriction, f"{{{SAML2_NS}}}Audience").text = AUDIENCE
            statement = ET.SubElement(root, f"{{{SAML2_NS}}}AttributeStatement")
            for name, value in (("IDPEmail", user.upn), ("UPN", user.upn)):
                attribute = ET.SubElement(statement, f"{{{SAML2_NS}}}Attribute", Name=name)
                ET.SubElement(attribute, f"{{{SAML2_NS}}}AttributeValue").text = value
            authn = ET.SubElement(root, f"{{{SAML2_NS}}}AuthnStatement", AuthnInstant=_iso(now))
            context = ET.SubElement(authn, f"{{{SAML2_NS}}}AuthnContext")
            ET.SubElement(context, f"{{{SAML2_NS}}}AuthnContextClassRef").text = WINDOWS_AUTHN
        else:
            root = ET.Element(
                f"{{{SAML1_NS}}}Assertion",
                MajorVersion="1",
                MinorVersion="1",
                AssertionID=f"_{uuid.uuid4()}",
                Issuer=domain.issuer_uri,
                IssueInstant=_iso(now),
            )
            conditions = ET.SubElement(root, f"{{{SAML1_NS}}}Conditions", NotBefore=_iso(now), NotOnOrAfter=_iso(until))
            restriction = ET.SubElement(conditions, f"{{{SAML1_NS}}}AudienceRestrictionCondition")
            ET.SubElement(restriction, f"{{{SAML1_NS}}}Audience").text = AUDIENCE
            statement = ET.SubElement(root, f"{{{SAML1_NS}}}AttributeStatement")
            _saml1_subject(statement, user)
            for name, namespace, value in (
                ("UPN", "http://schemas.xmlsoap.org/claims", user.upn),
                ("ImmutableID", "http://schemas.microsoft.com/LiveID/Federation/2008/05", user.immutable_id),
            ):
                attribute = ET.SubElement(
                    statement, f"{{{SAML1_NS}}}Attribute", AttributeName=name, AttributeNamespace=namespace
                )
                ET.SubElement(attribute, f"{{{SAML1_NS}}}AttributeValue").text = value
            authn = ET.SubElement(
                root,
                f"{{{SAML1_NS}}}AuthenticationStatement",
                AuthenticationMethod=WINDOWS_AUTHN,
                AuthenticationInstant=_iso(now),
            )
            _saml1_subject(authn, user)
        return domain.sign(root)

    # --- Entra: the SAML bearer grant -----------------------------------------------------------

    def verify_assertion(self, grant_type: str, encoded: str) -> AssertedUser:
        """The user a ``saml1_1-bearer`` / ``saml2-bearer`` assertion (base64 of the XML) speaks for."""
        try:
            text = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_")
            if not text.lstrip().startswith(b"<"):
                text = base64.b64decode(encoded)
            root = ET.fromstring(text)  # noqa: S314 - a loopback client's assertion; expat limits entities
        except (ValueError, ET.ParseError) as exc:
            raise AssertionRejected(50008, "SAML token is invalid: it is not well-formed XML.") from exc
        saml2 = root.tag == f"{{{SAML2_NS}}}Assertion"
        if not saml2 and root.tag != f"{{{SAML1_NS}}}Assertion":
            raise AssertionRejected(50008, "SAML token is invalid: it is not a SAML assertion.")
        if saml2 != (grant_type == SAML2_GRANT):
            raise AssertionRejected(
                50008, f"SAML token is invalid: a SAML {'2.0' if saml2 else '1.1'} assertion sent as {grant_type}."
            )
        ns = SAML2_NS if saml2 else SAML1_NS
        issuer = root.findtext(f"{{{ns}}}Issuer") if saml2 else root.get("Issuer")
        domain = self._domain_by_issuer(issuer or "")
        if domain is None:
            raise AssertionRejected(50107, f"The requested federation realm object '{issuer}' does not exist.")
        _verify_signature(root, domain.trusted_certificate)
        conditions = root.find(f"{{{ns}}}Conditions")
        if conditions is None:
            raise AssertionRejected(50013, "Assertion is invalid: it has no conditions.")
        now = dt.datetime.now(dt.timezone.utc)
        not_before, not_after = _parse_iso(conditions.get("NotBefore")), _parse_iso(conditions.get("NotOnOrAfter"))
        if not (not_before - dt.timedelta(seconds=_SKEW) <= now < not_after + dt.timedelta(seconds=_SKEW)):
            raise AssertionRejected(50013, "Assertion is not within its valid time range.")
        audiences = {a.text for a in conditions.iter(f"{{{ns}}}Audience")}
        if AUDIENCE not in audiences:
            raise AssertionRejected(50013, f"Assertion audience does not match '{AUDIENCE}'.")
        upn = ""
        for attribute in root.iter(f"{{{ns}}}Attribute"):
            name = attribute.get("Name") if saml2 else attribute.get("AttributeName")
            if name in ("UPN", "IDPEmail"):
                upn = attribute.findtext(f"{{{ns}}}AttributeValue") or ""
                break
        user = domain.users.get(upn.lower())
        if user is None:
            raise AssertionRejected(
                50034, f"The user account {upn or '(no UPN claim)'} does not exist in the {domain.tenant_id} directory."
            )
        return AssertedUser(domain, user)

    def user_claims(self, asserted: AssertedUser, client_id: str) -> dict[str, Any]:
        """The v1 claims of a user token from a SAML bearer grant (the issuer adds aud, iss, tid, times)."""
        user = asserted.user
        return {
            "upn": user.upn,
            "unique_name": user.upn,
            "name": user.display_name,
            "scp": "user_impersonation",
            "amr": ["pwd", "wia"],
            "idtyp": "user",
            "appidacr": "0",
            "puid": secrets.token_hex(8).upper(),
            "ipaddr": "127.0.0.1",
            "idp": asserted.domain.issuer_uri,
        }


def _saml1_subject(parent: ET.Element, user: FederatedUser) -> None:
    subject = ET.SubElement(parent, f"{{{SAML1_NS}}}Subject")
    ET.SubElement(
        subject, f"{{{SAML1_NS}}}NameIdentifier", Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    ).text = user.immutable_id
    confirmation = ET.SubElement(subject, f"{{{SAML1_NS}}}SubjectConfirmation")
    ET.SubElement(confirmation, f"{{{SAML1_NS}}}ConfirmationMethod").text = "urn:oasis:names:tc:SAML:1.0:cm:bearer"


def _soap_fault(version: str, code: str, reason: str, headers: dict[str, str]) -> Response:
    body = (
        f'<s:Envelope xmlns:s="{SOAP12_NS}" xmlns:a="{WSA_NS}"><s:Body><s:Fault>'
        f'<s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value xmlns:a="{_TRUST[version][0]}">{code}</s:Value>'
        f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(reason)}</s:Text></s:Reason>'
        "</s:Fault></s:Body></s:Envelope>"
    )
    return Response(500, body.encode(), headers)


def _accept(domain: FederatedDomain, token: bytes) -> tuple[str, bytes | None]:
    """Accept a SPNEGO (or raw Kerberos) token with the federation server's keytab, as IIS does for ADFS;
    returns the client's Kerberos principal and the reply token for mutual authentication."""
    import gssapi  # the `kerberos` extra; only federation tests reach here

    name = gssapi.Name(f"HTTP@{domain.service_host}", gssapi.NameType.hostbased_service)
    credentials = gssapi.Credentials(name=name, usage="accept", store={"keytab": str(domain.keytab)})
    context = gssapi.SecurityContext(creds=credentials, usage="accept")
    reply = context.step(token)
    if not context.complete:
        raise PermissionError("SPNEGO needs another round trip, which this stand-in does not do")
    return str(context.initiator_name), reply
