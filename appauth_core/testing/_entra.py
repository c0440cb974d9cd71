"""Entra ID: OpenID discovery, JWKS and the client-credentials token endpoints (v1 and v2); the ARM routes
served on the same port live in ``_arm``. Shapes and error texts follow the live service."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import jwt

from ._arm import ArmStandIn
from ._directory import AppRegistration, Directory, ResourceNotFound
from ._federation import SAML1_GRANT, SAML2_GRANT, AssertionRejected, FederationStandIn
from ._http import Handler, Request, Response
from ._tokens import InvalidToken, TokenIssuer, audience_for_resource, issuer_for, resource_from_scope

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MULTI_TENANT_SEGMENTS = ("common", "organizations")
_ASSERTION_SKEW = 300  # Entra tolerates five minutes of clock skew on client assertions
_NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


class AadError(Exception):
    """An AADSTS error: rendered with the live service's body shape and status."""

    def __init__(self, status: int, error: str, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.code, self.message = status, error, code, message

    def response(self) -> Response:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        description = (
            f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {now}"
        )
        return Response.json(
            self.status,
            {
                "error": self.error,
                "error_description": description,
                "error_codes": [self.code],
                "timestamp": now,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
            },
            _NO_STORE,
        )


def _tenant_not_found(tenant: str) -> AadError:
    return AadError(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
        "into the correct cloud. Check with your subscription administrator, this may happen if there "
        "are no active subscriptions for the tenant.",
    )


def _missing(parameter: str) -> AadError:
    return AadError(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{parameter}'.",
    )


class EntraStandIn:
    """Serves ``https://127.0.0.1:<port>/{tenant}/...`` as Entra ID, and hands ``/metadata``,
    ``/subscriptions`` and ``/tenants`` to its ``ArmStandIn`` (the ARM endpoints of a custom cloud)."""

    def __init__(self, directory: Directory, issuer: TokenIssuer, federation: FederationStandIn | None = None) -> None:
        self.directory = directory
        self.issuer = issuer
        self.federation = federation or FederationStandIn()
        self.arm = ArmStandIn(directory, issuer)

    def route(self, request: Request) -> tuple[str, Handler]:
        arm = self.arm.route(request)
        if arm is not None:
            return arm
        parts = [p for p in request.path.split("/") if p]
        if request.method == "GET" and len(parts) == 3 and parts[:2] == ["common", "userrealm"]:
            return "entra.userrealm", self.federation.user_realm
        if len(parts) >= 2:
            rest = parts[1:]
            if request.method == "GET" and rest in (
                ["v2.0", ".well-known", "openid-configuration"],
                [".well-known", "openid-configuration"],
            ):
                return "entra.discovery", self._discovery
            if request.method == "GET" and rest in (["discovery", "v2.0", "keys"], ["discovery", "keys"]):
                return "entra.jwks", lambda _request: Response.json(200, self.issuer.jwks())
            if request.method == "POST" and rest in (["oauth2", "v2.0", "token"], ["oauth2", "token"]):
                return "entra.token", self._token
        return "entra.unknown", _not_found

    # --- OpenID discovery -------------------------------------------------------------------------

    def _discovery(self, request: Request) -> Response:
        """A tenant's document names it by GUID; ``common`` and ``organizations`` (multi-tenant) keep their
        name in the endpoints and publish the issuer as a template, ``{tenantid}`` for the token's ``tid``."""
        segment = request.path.strip("/").split("/")[0]
        base = f"https://{request.host}"
        v2 = "/v2.0/" in request.path
        if segment.lower() in MULTI_TENANT_SEGMENTS:
            tid, issuer_tid = segment.lower(), "{tenantid}"
        else:
            tenant = self.directory.find_tenant(segment)
            if tenant is None:
                return _tenant_not_found(segment).response()
            tid = issuer_tid = tenant.tenant_id
        oauth = f"{base}/{tid}/oauth2/v2.0" if v2 else f"{base}/{tid}/oauth2"
        document = {
            "token_endpoint": f"{oauth}/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys" if v2 else f"{base}/common/discovery/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer.v2_issuer(issuer_tid) if v2 else issuer_for(issuer_tid),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{oauth}/authorize",
            "device_authorization_endpoint": f"{oauth}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{oauth}/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "tid",
                "ver",
            ],
            "tenant_region_scope": "WW",
            "cloud_instance_name": "appauth.emulator",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        if not v2:
            document["resource_access_token_endpoint"] = f"{oauth}/token"
        return Response.json(200, document)

    # --- token endpoint ---------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        try:
            return self._issue(request)
        except AadError as error:
            return error.response()

    def _issue(self, request: Request) -> Response:
        segment = request.path.strip("/").split("/")[0]
        form = request.form()
        if form.get("grant_type") in (SAML1_GRANT, SAML2_GRANT) and "/v2.0/" not in request.path:
            return self._saml_bearer(segment, form)
        tenant = self.directory.find_tenant(segment)
        if tenant is None:
            raise _tenant_not_found(segment)
        v2 = "/v2.0/" in request.path
        grant_type = form.get("grant_type") or _raise(_missing("grant_type"))
        if grant_type != "client_credentials":
            raise AadError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        client_id = form.get("client_id") or _raise(_missing("client_id"))
        if v2:
            scope = form.get("scope") or _raise(_missing("scope"))
            resource = resource_from_scope(scope.strip())
            if resource is None or " " in scope.strip():
                raise AadError(
                    400,
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                    "scope value with /.default suffixed to the resource identifier (application ID URI).",
                )
        else:
            resource = form.get("resource") or _raise(_missing("resource"))
        app = self.directory.find_app(client_id)
        if app is None or app.tenant_id != tenant.tenant_id:
            raise AadError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{segment}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You may have sent your authentication request to the "
                "wrong tenant.",
            )
        appidacr = self._authenticate_client(request, form, app, tenant.tenant_id)
        try:
            target = self.directory.token_target(tenant.tenant_id, audience_for_resource(resource), app.object_id)
        except ResourceNotFound as missing:
            raise AadError(400, missing.error, missing.code, missing.message) from None
        issued = self.issuer.issue(
            tenant_id=tenant.tenant_id,
            audience=target.audience,
            app_id=app.app_id,
            object_id=app.object_id,
            appidacr=appidacr,
            version=target.version,
            roles=target.roles,
            extra=_claims_asked(form.get("claims")),
        )
        lifetime = issued.expires_in
        if v2:
            body: dict[str, Any] = {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": issued.access_token,
            }
            if lifetime >= 7200:
                body["refresh_in"] = lifetime // 2
        else:  # the v1 endpoint answers with strings, and echoes the resource
            body = {
                "token_type": "Bearer",
                "expires_in": str(lifetime),
                "ext_expires_in": str(lifetime),
                "expires_on": str(issued.expires_on),
                "not_before": str(issued.issued_at),
                "resource": resource,
                "access_token": issued.access_token,
            }
        return Response.json(200, body, _NO_STORE)

    def _saml_bearer(self, segment: str, form: dict[str, str]) -> Response:
        """v1 endpoint, SAML bearer grant (ADAL's integrated Windows authentication): a user token for the
        user a federated domain's assertion speaks for. ``common`` and ``organizations`` take the tenant
        from the assertion's domain."""
        grant_type = form["grant_type"]
        resource = form.get("resource") or _raise(_missing("resource"))
        client_id = form.get("client_id") or _raise(_missing("client_id"))
        assertion = form.get("assertion") or _raise(_missing("assertion"))
        try:
            asserted = self.federation.verify_assertion(grant_type, assertion)
        except AssertionRejected as rejected:
            raise AadError(400, "invalid_grant", rejected.code, rejected.message) from None
        tenant_id = asserted.domain.tenant_id
        if segment.lower() not in ("common", "organizations"):
            tenant = self.directory.find_tenant(segment)
            if tenant is None:
                raise _tenant_not_found(segment)
            if tenant.tenant_id != tenant_id:
                raise AadError(
                    400,
                    "invalid_grant",
                    50034,
                    f"The user account {asserted.user.upn} does not exist in the {segment} directory.",
                )
        issued = self.issuer.issue(
            tenant_id=tenant_id,
            audience=audience_for_resource(resource),
            app_id=client_id,
            object_id=asserted.user.object_id,
            appidacr="0",
            extra=self.federation.user_claims(asserted, client_id),
        )
        body = {
            "token_type": "Bearer",
            "scope": "user_impersonation",
            "expires_in": str(issued.expires_in),
            "ext_expires_in": str(issued.expires_in),
            "expires_on": str(issued.expires_on),
            "not_before": str(issued.issued_at),
            "resource": resource,
            "access_token": issued.access_token,
        }
        return Response.json(200, body, _NO_STORE)

    def _authenticate_client(self, request: Request, form: dict[str, str], app: AppRegistration, tid: str) -> str:
        """Returns the token's ``appidacr``: "1" for a secret, "2" for a certificate or assertion."""
        if "client_secret" in form:
            if not app.secret_matches(form["client_secret"]):
                raise AadError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                    f"secret value, not the client secret ID, for a secret added to app '{app.app_id}'.",
                )
            return "1"
        if "client_assertion" in form:
            if form.get("client_assertion_type") != JWT_BEARER:
                raise AadError(
                    400,
                    "invalid_request",
                    70002,
                    f"The 'client_assertion_type' must be '{JWT_BEARER}'.",
                )
            self._verify_assertion(request, form["client_assertion"], app, tid)
            return "2"
        raise AadError(
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        )

    def _verify_assertion(self, request: Request, assertion: str, app: AppRegistration, tid: str) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AadError(401, "invalid_client", 50027, "JWT token is invalid or malformed.") from exc
        if unverified.get("iss") != app.app_id:
            self._verify_federated(assertion, unverified, app)
            return
        cert = app.certificate_for(x5t=header.get("x5t"), x5t_s256=header.get("x5t#S256"))
        if cert is None or header.get("alg") not in ("RS256", "PS256"):
            raise AadError(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on "
                f"application. [Reason - The key was not found., Thumbprint of key used by client: "
                f"'{header.get('x5t') or header.get('x5t#S256')}', Please visit the Azure Portal, Graph Explorer "
                "or directly use MS Graph to see configured keys for app Id "
                f"'{app.app_id}'.]",
            )
        base = f"https://{request.host}/{tid}/oauth2"
        try:
            claims = jwt.decode(
                assertion,
                cert.public_key(),  # type: ignore[arg-type]
                algorithms=[header["alg"]],
                audience=[f"{base}/v2.0/token", f"{base}/token", f"https://{request.host}/{tid}/v2.0"],
                leeway=_ASSERTION_SKEW,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AadError(
                401, "invalid_client", 700024, "Client assertion is not within its valid time range."
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise AadError(
                401,
                "invalid_client",
                700212,
                "No matching federated identity record found for presented assertion audience.",
            ) from exc
        except jwt.PyJWTError as exc:
            raise AadError(401, "invalid_client", 700027, "Client assertion failed signature validation.") from exc
        if claims.get("sub") != app.app_id:
            raise AadError(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )

    def _verify_federated(self, assertion: str, unverified: dict[str, Any], app: AppRegistration) -> None:
        """Workload identity: a token from a trusted issuer (here: minted by the emulator itself)."""
        for credential in app.federated_credentials:
            if credential.issuer == unverified.get("iss") and credential.subject == unverified.get("sub"):
                try:
                    claims = self.issuer.verify(assertion)
                except InvalidToken as exc:
                    raise AadError(
                        401, "invalid_client", 700027, "Client assertion failed signature validation."
                    ) from exc
                if claims.get("aud") != credential.audience:
                    break
                if int(claims.get("exp", 0)) + _ASSERTION_SKEW < time.time():
                    raise AadError(
                        401, "invalid_client", 700024, "Client assertion is not within its valid time range."
                    )
                return
        raise AadError(
            400,
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion. Assertion Issuer: "
            f"'{unverified.get('iss')}'. Assertion Subject: '{unverified.get('sub')}'. Assertion Audience: "
            f"'{unverified.get('aud')}'.",
        )


def _claims_asked(claims: str | None) -> dict[str, Any]:
    """What a ``claims`` parameter (a claims challenge the client passes on, msal's ``claims_challenge``) puts in
    the token: the Conditional Access authentication contexts it asks for, as ``acrs`` (``{"access_token":
    {"acrs": {"essential": true, "value": "c1"}}}`` gives ``"acrs": ["c1"]``), as Entra ID does once they are
    satisfied. Other claims (``xms_cc`` capabilities, a CAE ``nbf``) change nothing here: every token is new."""
    try:
        asked = json.loads(claims or "{}")["access_token"]["acrs"]
        values = asked.get("values") or [asked["value"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}
    return {"acrs": [str(value) for value in values]} if isinstance(values, list) and values else {}


def _not_found(request: Request) -> Response:
    return Response.json(404, {"error": "not_found", "error_description": f"No such route: {request.path}"})


def _raise(error: AadError) -> str:
    raise error
