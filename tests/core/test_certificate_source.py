"""CertificateSource and the folder-backed certificate store, against the emulated Entra ID."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from appauth_core.errors import AzureServiceTokenProviderError
from appauth_core.testing import ClientCertificate
from appauth_core.tokens.sources import _certificate_store as certificate_store
from appauth_core.tokens.sources._base import TokenRequest, TokenSource
from appauth_core.tokens.sources._certificate import CertificateSource
from appauth_core.tokens.sources._certificate_store import (
    CertificateStore,
    dotnet_subject,
    normalize_thumbprint,
    subject_matches,
)

VAULT = "https://vault.azure.net"
NOW = dt.datetime.now(dt.timezone.utc)


# --- helpers (the Key Vault certificate tests use them too) ----------------------------------------


def make_certificate(
    common_name: str = "appauth-cert-test",
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    organization: str | None = None,
) -> ClientCertificate:
    """A self-signed RSA certificate with chosen validity, as the emulator's ``ClientCertificate``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization), *attributes]
    name = x509.Name(attributes)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(minutes=5))
        .not_valid_after(not_after or NOW + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ClientCertificate(certificate, pem)


def pfx_bytes(cert: ClientCertificate, *, password: bytes | None = None, with_key: bool = True) -> bytes:
    key = serialization.load_pem_private_key(cert.private_key_pem, None) if with_key else None
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"appauth", key, cert.certificate, None, encryption)  # type: ignore[arg-type]


def write_pfx(folder: Path, cert: ClientCertificate, **options: object) -> Path:
    """As .NET on Linux writes its store: ``<THUMBPRINT>.pfx``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cert.thumbprint_sha1}.pfx"
    path.write_bytes(pfx_bytes(cert, **options))  # type: ignore[arg-type]
    return path


def write_pem(folder: Path, cert: ClientCertificate, name: str = "app.pem") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(cert.certificate_pem + cert.private_key_pem)  # certificate first: order must not matter
    return path


def _request(emulator, tenant_id: str | None = None) -> TokenRequest:
    return TokenRequest(VAULT, tenant_id=tenant_id, authority_host=emulator.authority)


def _source(emulator, app, folder: Path, **options) -> CertificateSource:
    return CertificateSource(app.app_id, emulator.tenant_id, store=CertificateStore("CurrentUser", folder), **options)


# --- getting tokens ----------------------------------------------------------------------------------


def test_pfx_found_by_thumbprint_as_people_paste_it(azure_emulator, azure_emulator_env, tmp_path):
    cert = make_certificate()
    app = azure_emulator.register_app(certificate=cert)
    write_pfx(tmp_path, cert)
    pasted = " ".join(cert.thumbprint_sha1[i : i + 2] for i in range(0, 40, 2)).lower()  # "5a 1b ..."
    source = _source(azure_emulator, app, tmp_path, thumbprint="\u200e" + pasted)
    token = source.get_token(_request(azure_emulator))
    claims = azure_emulator.issuer.verify(token.access_token)
    assert claims["appid"] == app.app_id
    assert claims["appidacr"] == "2"  # signed in with a certificate
    assert claims["tid"] == azure_emulator.tenant_id
    assert isinstance(source, TokenSource)
    assert (
        source.cache_identity
        == f"app:{app.app_id}:{azure_emulator.tenant_id}:cert:{source.thumbprint or source.subject_name}"
    )
    assert source.name == "Service principal (certificate)"


def test_pem_found_by_subject_in_dotnet_and_rfc4514_forms(azure_emulator, azure_emulator_env, tmp_path):
    cert = make_certificate("my-service", organization="Contoso")
    app = azure_emulator.register_app(certificate=cert)
    write_pem(tmp_path, cert)
    for subject in ("CN=my-service, O=Contoso", "cn=MY-SERVICE,o=contoso"):
        token = _source(azure_emulator, app, tmp_path, subject_name=subject).get_token(_request(azure_emulator))
        assert azure_emulator.issuer.verify(token.access_token)["appid"] == app.app_id


def test_colon_separated_thumbprint_matches_a_colon_thumbprint_pem_store(azure_emulator, azure_emulator_env, tmp_path):
    cert = make_certificate()
    app = azure_emulator.register_app(certificate=cert)
    write_pem(tmp_path, cert, "whatever-name.pem")
    colons = ":".join(cert.thumbprint_sha1[i : i + 2] for i in range(0, 40, 2))
    token = _source(azure_emulator, app, tmp_path, thumbprint=colons).get_token(_request(azure_emulator))
    assert azure_emulator.issuer.verify(token.access_token)["appid"] == app.app_id


def test_newest_certificate_is_tried_first(azure_emulator, azure_emulator_env, tmp_path):
    old = make_certificate("rotating", not_before=NOW - dt.timedelta(days=20))
    new = make_certificate("rotating", not_before=NOW - dt.timedelta(days=1))
    app = azure_emulator.register_app(certificate=new)
    write_pfx(tmp_path, old)
    write_pfx(tmp_path, new)
    token = _source(azure_emulator, app, tmp_path, subject_name="CN=rotating").get_token(_request(azure_emulator))
    assert azure_emulator.issuer.verify(token.access_token)["appid"] == app.app_id
    assert azure_emulator.counters["entra.token"] == 1  # the newest worked: the older one was never tried


def test_an_older_certificate_is_used_when_the_newest_is_not_registered_yet(
    azure_emulator, azure_emulator_env, tmp_path
):
    old = make_certificate("renewing", not_before=NOW - dt.timedelta(days=20))
    new = make_certificate("renewing", not_before=NOW - dt.timedelta(days=1))
    app = azure_emulator.register_app(certificate=old)
    write_pfx(tmp_path, old)
    write_pem(tmp_path, new, "renewed.pem")
    token = _source(azure_emulator, app, tmp_path, subject_name="CN=renewing").get_token(_request(azure_emulator))
    assert azure_emulator.issuer.verify(token.access_token)["appid"] == app.app_id
    assert azure_emulator.counters["entra.token"] == 2


def test_every_refused_certificate_is_listed_with_its_reason(azure_emulator, azure_emulator_env, tmp_path):
    registered = make_certificate("refused")
    app = azure_emulator.register_app(certificate=registered)
    first = make_certificate("refused", not_before=NOW - dt.timedelta(days=1))
    second = make_certificate("refused", not_before=NOW - dt.timedelta(days=2))
    write_pfx(tmp_path, first)
    write_pfx(tmp_path, second)
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        _source(azure_emulator, app, tmp_path, subject_name="CN=refused").get_token(_request(azure_emulator))
    message = str(raised.value)
    assert "Tried 2 certificate(s). Access token could not be acquired." in message
    assert f"Exception for cert #1 with thumbprint {first.thumbprint_sha1}: AADSTS700027" in message
    assert f"Exception for cert #2 with thumbprint {second.thumbprint_sha1}: AADSTS700027" in message
    assert "PRIVATE KEY" not in message


def test_an_outage_is_not_retried_with_every_certificate(azure_emulator, azure_emulator_env, tmp_path):
    first = make_certificate("outage", not_before=NOW - dt.timedelta(days=1))
    second = make_certificate("outage", not_before=NOW - dt.timedelta(days=2))
    app = azure_emulator.register_app(certificate=second)
    write_pfx(tmp_path, first)
    write_pfx(tmp_path, second)
    body = {"error": "temporarily_unavailable", "error_description": "AADSTS90033: busy"}
    azure_emulator.faults.inject("entra.token", status=503, body=body, times=50)
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        _source(azure_emulator, app, tmp_path, subject_name="CN=outage").get_token(_request(azure_emulator))
    message = str(raised.value)
    assert "Tried 1 certificate(s) (1 more not tried: the failure was not about the certificate)." in message
    assert "cert #2" not in message
    assert azure_emulator.counters["entra.token"] == 3  # one certificate's attempts (the retries), not two


def test_request_tenant_overrides_the_configured_one(azure_emulator, azure_emulator_env, tmp_path):
    other = azure_emulator.directory.add_tenant()
    cert = make_certificate()
    app = azure_emulator.register_app(certificate=cert, tenant_id=other.tenant_id)
    write_pfx(tmp_path, cert)
    source = _source(azure_emulator, app, tmp_path, thumbprint=cert.thumbprint_sha1)
    token = source.get_token(_request(azure_emulator, tenant_id=other.tenant_id))
    assert azure_emulator.issuer.verify(token.access_token)["tid"] == other.tenant_id


# --- what the store passes over ------------------------------------------------------------------------


def test_expired_and_future_certificates_are_skipped(azure_emulator, azure_emulator_env, tmp_path):
    expired = make_certificate("dated", not_before=NOW - dt.timedelta(days=60), not_after=NOW - dt.timedelta(days=1))
    future = make_certificate("dated", not_before=NOW + dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=60))
    current = make_certificate("dated", not_before=NOW - dt.timedelta(days=90))
    app = azure_emulator.register_app(certificate=current)
    for cert in (expired, future, current):
        write_pfx(tmp_path, cert)
    search = CertificateStore("CurrentUser", tmp_path).find(subject_name="CN=dated")
    assert [s.thumbprint for s in search.matches] == [current.thumbprint_sha1]
    reasons = {s.what.split(" ")[0]: s.reason for s in search.skipped}
    assert reasons[expired.thumbprint_sha1].startswith("expired on ")
    assert reasons[future.thumbprint_sha1].startswith("not valid before ")
    token = _source(azure_emulator, app, tmp_path, subject_name="CN=dated").get_token(_request(azure_emulator))
    assert azure_emulator.issuer.verify(token.access_token)["appid"] == app.app_id


def test_not_found_says_where_it_looked_and_what_it_passed_over(azure_emulator, azure_emulator_env, tmp_path):
    expired = make_certificate("gone", not_before=NOW - dt.timedelta(days=60), not_after=NOW - dt.timedelta(days=1))
    keyless = make_certificate("gone")
    write_pfx(tmp_path, expired)
    write_pfx(tmp_path, keyless, with_key=False)
    (tmp_path / "notes.pem").write_text("not a certificate")
    app = azure_emulator.register_app(certificate=expired)
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        _source(azure_emulator, app, tmp_path, subject_name="CN=gone").get_token(_request(azure_emulator))
    message = str(raised.value)
    assert "Specified certificate was not found." in message
    assert f"CurrentUser\\My (folder {tmp_path})" in message
    assert "3 certificate file(s)" in message
    assert f"{expired.thumbprint_sha1} ({expired.thumbprint_sha1}.pfx): expired on" in message
    assert f"{keyless.thumbprint_sha1} ({keyless.thumbprint_sha1}.pfx): no private key" in message
    assert "notes.pem: no certificate in the PEM file" in message
    assert azure_emulator.counters["entra.token"] == 0


def test_missing_folder_is_an_empty_store(tmp_path):
    store = CertificateStore("LocalMachine", tmp_path / "absent")
    search = store.find(thumbprint="00" * 20)
    assert search.matches == () and search.files_read == 0
    assert store.describe() == f"LocalMachine\\My (folder {tmp_path / 'absent'})"


def test_password_protected_pfx_needs_the_password_variable(tmp_path):
    cert = make_certificate("locked")
    write_pfx(tmp_path, cert, password=b"pfx-password")
    without = CertificateStore("CurrentUser", tmp_path, environ={}).find(subject_name="CN=locked")
    assert without.matches == ()
    assert "APPAUTH_CERTIFICATE_STORE_PASSWORD" in str(without.skipped[0])
    environ = {"APPAUTH_CERTIFICATE_STORE_PASSWORD": "pfx-password"}
    found = CertificateStore("CurrentUser", tmp_path, environ=environ).find(subject_name="CN=locked")
    assert [s.thumbprint for s in found.matches] == [cert.thumbprint_sha1]


def test_non_rsa_keys_are_passed_over(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec-cert")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "ec.pem").write_bytes(pem + certificate.public_bytes(serialization.Encoding.PEM))
    search = CertificateStore("CurrentUser", tmp_path).find(subject_name="CN=ec-cert")
    assert search.matches == ()
    assert "Entra ID accepts only RSA keys" in search.skipped[0].reason


def test_same_certificate_in_two_files_is_one_candidate(tmp_path):
    cert = make_certificate("twice")
    write_pfx(tmp_path, cert)
    write_pem(tmp_path, cert)
    assert len(CertificateStore("CurrentUser", tmp_path).find(subject_name="CN=twice").matches) == 1


# --- where the store is ------------------------------------------------------------------------------


def test_current_user_default_is_dotnets_folder(azure_emulator, azure_emulator_env, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("APPAUTH_CERTIFICATE_STORE_CURRENTUSER", raising=False)
    cert = make_certificate()
    app = azure_emulator.register_app(certificate=cert)
    write_pfx(tmp_path / ".dotnet" / "corefx" / "cryptography" / "x509stores" / "my", cert)
    source = CertificateSource(app.app_id, azure_emulator.tenant_id, thumbprint=cert.thumbprint_sha1)
    token = source.get_token(_request(azure_emulator))
    assert azure_emulator.issuer.verify(token.access_token)["appid"] == app.app_id


def test_folders_come_from_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("APPAUTH_CERTIFICATE_STORE_CURRENTUSER", str(tmp_path / "user"))
    monkeypatch.setenv("APPAUTH_CERTIFICATE_STORE_LOCALMACHINE", str(tmp_path / "machine"))
    assert CertificateStore("currentuser").folder == tmp_path / "user"
    assert CertificateStore("LOCALMACHINE").folder == tmp_path / "machine"
    assert CertificateStore("LocalMachine", tmp_path / "given").folder == tmp_path / "given"
    monkeypatch.delenv("APPAUTH_CERTIFICATE_STORE_LOCALMACHINE")
    assert CertificateStore("LocalMachine").folder == Path("/etc/appauth/x509stores/my")


def test_windows_store_is_refused_honestly_unless_a_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(certificate_store.sys, "platform", "win32")
    monkeypatch.delenv("APPAUTH_CERTIFICATE_STORE_CURRENTUSER", raising=False)
    source = CertificateSource("app", "tenant", thumbprint="00" * 20)
    with pytest.raises(AzureServiceTokenProviderError, match="does not read the Windows certificate store yet"):
        source.get_token(TokenRequest(VAULT))
    assert CertificateStore("CurrentUser", tmp_path).find(thumbprint="00" * 20).matches == ()


# --- settings and names ------------------------------------------------------------------------------


def test_settings_are_checked():
    with pytest.raises(ValueError, match=r"StoreLocation Nowhere is not valid\. Valid values are CurrentUser"):
        CertificateSource("app", "tenant", thumbprint="00" * 20, store_location="Nowhere")
    with pytest.raises(ValueError, match="at least one of CertificateSubjectName or CertificateThumbprint"):
        CertificateSource("app", "tenant")
    with pytest.raises(ValueError, match="not a SHA-1 thumbprint"):
        CertificateSource("app", "tenant", thumbprint="abc")


def test_thumbprint_wins_over_subject(tmp_path):
    source = CertificateSource(
        "app", "t", thumbprint="aa" * 20, subject_name="CN=x", store=CertificateStore("CurrentUser", tmp_path)
    )
    assert source.thumbprint == "AA" * 20
    assert source.subject_name is None
    assert "AAAA" in repr(source)


def test_subject_forms():
    cert = make_certificate('a "quoted", name', organization="Contoso").certificate
    assert dotnet_subject(cert.subject) == 'CN="a ""quoted"", name", O=Contoso'
    assert subject_matches(cert, 'cn="A ""QUOTED"", NAME", o=contoso')
    assert subject_matches(cert, cert.subject.rfc4514_string())
    assert not subject_matches(make_certificate("app", organization="Contoso").certificate, "CN=app")


def test_normalize_thumbprint():
    assert normalize_thumbprint("\u200eab:cd ef-01") == "ABCDEF01"
