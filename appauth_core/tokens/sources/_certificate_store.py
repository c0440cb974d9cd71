"""Certificates with private keys, read from a folder laid out as .NET lays out its X.509 stores on Linux.

Why a folder: .NET on Linux keeps ``X509Store(My, CurrentUser)`` as ``<THUMBPRINT>.pfx`` files (PKCS#12,
exported without a password; a clash gets ``<THUMBPRINT>.1.pfx`` ...) under
``~/.dotnet/corefx/cryptography/x509stores/my/``. Reading that folder means a certificate a .NET app
installed with ``store.Add(cert)`` works here unchanged, and any other certificate can be dropped in as a
file. Also read: ``.p12`` and ``.pem`` files (one private key plus its certificate, as
``openssl req -x509 -newkey ... -nodes`` or azure-identity's ``CertificateCredential`` use). On macOS
.NET uses the keychain instead, which is not read; the same folder is used there.

Locations (``CertificateStoreLocation`` in a connection string):

- ``CurrentUser``: ``$APPAUTH_CERTIFICATE_STORE_CURRENTUSER``, else .NET's folder above.
- ``LocalMachine``: ``$APPAUTH_CERTIFICATE_STORE_LOCALMACHINE``, else ``/etc/appauth/x509stores/my/``.
  .NET on Linux has no ``LocalMachine\\My`` store (it refuses to open one: only ``Root`` and
  ``CertificateAuthority`` exist there), so this folder is appauth's own convention: root-owned,
  readable by the app's service account.

Password-protected files are opened with ``$APPAUTH_CERTIFICATE_STORE_PASSWORD`` when it is set.

On Windows the real certificate store (CryptoAPI / CNG) is not read yet: no well-kept Python library
exports private keys from it, and we will not pretend. There a folder must be named explicitly (argument
or variable), or use a Key Vault certificate or a client secret instead.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ...errors import CertificateStoreError

CURRENT_USER = "CurrentUser"
LOCAL_MACHINE = "LocalMachine"
STORE_FOLDER_VARIABLES = {
    CURRENT_USER: "APPAUTH_CERTIFICATE_STORE_CURRENTUSER",
    LOCAL_MACHINE: "APPAUTH_CERTIFICATE_STORE_LOCALMACHINE",
}
PASSWORD_VARIABLE = "APPAUTH_CERTIFICATE_STORE_PASSWORD"
DOTNET_CURRENT_USER_FOLDER = Path(".dotnet", "corefx", "cryptography", "x509stores", "my")  # under $HOME
LOCAL_MACHINE_FOLDER = Path("/etc/appauth/x509stores/my")
CERTIFICATE_SUFFIXES = (".pfx", ".p12", ".pem")

_THUMBPRINT_NOISE = re.compile(r"[\s:\u200e\u200f\ufeff-]")  # spaces, colons, the LRM Windows dialogs copy
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


def parse_store_location(value: str) -> str:
    """``CurrentUser`` or ``LocalMachine``, matched case-insensitively as .NET's ``Enum.TryParse``."""
    for location in (CURRENT_USER, LOCAL_MACHINE):
        if value.strip().lower() == location.lower():
            return location
    raise ValueError(f"StoreLocation {value} is not valid. Valid values are CurrentUser and LocalMachine.")


def normalize_thumbprint(value: str) -> str:
    """Upper-case hex without the separators people paste from portals and certificate dialogs."""
    return _THUMBPRINT_NOISE.sub("", value).upper()


# --- certificates ------------------------------------------------------------------------------------

_DOTNET_ATTRIBUTE_NAMES = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "S",
    NameOID.COUNTRY_NAME: "C",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.GIVEN_NAME: "G",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "T",
    NameOID.INITIALS: "I",
}
_DOTNET_QUOTE_TRIGGERS = set(',+="\n<>#;')


def _dotnet_value(value: str) -> str:
    if value != value.strip() or any(c in _DOTNET_QUOTE_TRIGGERS for c in value):
        return '"' + value.replace('"', '""') + '"'
    return value


def dotnet_subject(name: x509.Name) -> str:
    """The subject as .NET's ``X509Certificate2.Subject`` prints it: ``CN=app, O=Contoso, C=US`` (most
    specific first, ``", "`` between parts, ``S=`` for the state, values with separators in quotes)."""
    parts = []
    for rdn in reversed(name.rdns):
        attributes = []
        for attribute in rdn:
            key = _DOTNET_ATTRIBUTE_NAMES.get(attribute.oid, f"OID.{attribute.oid.dotted_string}")
            value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
            attributes.append(f"{key}={_dotnet_value(value)}")
        parts.append(" + ".join(attributes))
    return ", ".join(parts)


def subject_matches(certificate: x509.Certificate, subject_name: str) -> bool:
    """Whole-string equality ignoring case, as .NET compared ``cert.Subject`` with ``CertificateSubjectName``,
    against both .NET's form (``CN=app, O=Contoso``) and RFC 4514's (``CN=app,O=Contoso``). Not a search:
    ``CN=app`` does not match ``CN=app, O=Contoso``."""
    wanted = subject_name.strip().casefold()
    forms = (dotnet_subject(certificate.subject), certificate.subject.rfc4514_string())
    return any(form.casefold() == wanted for form in forms)


def thumbprint_of(certificate: x509.Certificate) -> str:
    """SHA-1 of the DER certificate in upper-case hex: .NET's ``Thumbprint``, what the portal shows."""
    return certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - the identifier is SHA-1 by definition


@dataclass(frozen=True)
class StoredCertificate:
    """A certificate as read from a file or a Key Vault secret, with its private key when it had one."""

    certificate: x509.Certificate = field(repr=False)
    private_key: rsa.RSAPrivateKey | None = field(repr=False)
    origin: str  # where it came from, for messages: a file path or a secret identifier
    key_problem: str | None = None  # why there is no usable key, when there is none

    @property
    def thumbprint(self) -> str:
        return thumbprint_of(self.certificate)

    @property
    def subject(self) -> str:
        return dotnet_subject(self.certificate.subject)

    @property
    def not_before(self) -> dt.datetime:
        return self.certificate.not_valid_before_utc

    def validity_problem(self, now: dt.datetime | None = None) -> str | None:
        """Why the certificate cannot be used now (expired, not yet valid, no key), or None."""
        moment = now or dt.datetime.now(dt.timezone.utc)
        if self.private_key is None:
            return self.key_problem or "no private key"
        if moment > self.certificate.not_valid_after_utc:
            return f"expired on {self.certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
        if moment < self.certificate.not_valid_before_utc:
            return f"not valid before {self.certificate.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC"
        return None

    def msal_credential(self) -> dict[str, str]:
        """msal's ``client_credential``: the key, the SHA-1 thumbprint (msal then signs RS256 with ``x5t``, as
        ADAL did) and the public certificate, which msal sends as ``x5c`` (.NET's ``sendX5c=true``, needed for
        subject-name/issuer authentication)."""
        if self.private_key is None:
            raise ValueError(f"certificate {self.thumbprint} has no private key")
        key_pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {
            "private_key": key_pem.decode(),
            "thumbprint": self.thumbprint,
            "public_certificate": self.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        }


class CertificateLoadError(ValueError):
    """A file or secret holds no certificate we can read; the message never contains key material."""


def _usable_key(key: object) -> tuple[rsa.RSAPrivateKey | None, str | None]:
    if key is None:
        return None, "no private key"
    if not isinstance(key, rsa.RSAPrivateKey):
        return None, f"a {type(key).__name__.lstrip('_')} key: Entra ID accepts only RSA keys for client assertions"
    return key, None


def load_pkcs12(
    data: bytes,
    origin: str,
    passwords: Sequence[bytes | None] = (None, b""),
    *,
    password_variable: str = PASSWORD_VARIABLE,
) -> StoredCertificate:
    """A PFX/P12 blob. .NET exports store files with no password; some tools write an empty one instead.
    ``password_variable``: where the password comes from, for the message when none opens it."""
    for password in passwords:
        try:
            key, certificate, others = pkcs12.load_key_and_certificates(data, password)
        except ValueError:
            continue
        if certificate is None and others and key is None:
            certificate = others[0]  # a certificate exported without its key: reported as such
        if certificate is None:
            raise CertificateLoadError("the PKCS#12 data holds no certificate")
        private_key, problem = _usable_key(key)
        return StoredCertificate(certificate, private_key, origin, problem)
    raise CertificateLoadError(f"not PKCS#12 data, or protected by a password (set {password_variable})")


def load_pem(
    data: bytes, origin: str, password: bytes | None = None, *, password_variable: str = PASSWORD_VARIABLE
) -> StoredCertificate:
    """A PEM file with a private key and its certificate (any order; other certificates are the chain).
    ``password_variable``: where the password comes from, for the message when the key is encrypted."""
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(data)]
    certificates = [x509.load_pem_x509_certificate(b) for b in blocks if b.startswith(b"-----BEGIN CERTIFICATE")]
    keys = [b for b in blocks if b"PRIVATE KEY-----" in b.split(b"\n", 1)[0]]
    if not certificates:
        raise CertificateLoadError("no certificate in the PEM file")
    if not keys:
        return StoredCertificate(certificates[0], None, origin, "no private key in the PEM file")
    try:
        key = serialization.load_pem_private_key(keys[0], password)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        raise CertificateLoadError(f"the private key cannot be read (encrypted? set {password_variable})") from None
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for certificate in certificates:
        spki = certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if spki == public:
            private_key, problem = _usable_key(key)
            return StoredCertificate(certificate, private_key, origin, problem)
    return StoredCertificate(certificates[0], None, origin, "the private key does not belong to the certificate")


# --- the store ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """A file or certificate not used, and why (for the "not found" message)."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


@dataclass(frozen=True)
class StoreSearch:
    """The result of ``CertificateStore.find``: usable matches newest first, and what was passed over."""

    matches: tuple[StoredCertificate, ...]
    skipped: tuple[Skipped, ...]
    files_read: int


class CertificateStore:
    """One location's ``My`` store as a folder of ``.pfx`` / ``.p12`` / ``.pem`` files (see module doc).

    ``folder`` wins over the location's variable, which wins over the default. Read on every ``find`` so a
    renewed certificate is picked up without a restart, as .NET opened its store on every token request.
    """

    def __init__(
        self,
        location: str = CURRENT_USER,
        folder: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.location = parse_store_location(location)
        env = os.environ if environ is None else environ
        configured = folder or env.get(STORE_FOLDER_VARIABLES[self.location]) or None
        self.explicit = configured is not None
        self.folder = Path(configured) if configured else _default_folder(self.location)
        password = env.get(PASSWORD_VARIABLE)
        self._password = password.encode() if password else None

    def __repr__(self) -> str:
        return f"CertificateStore(location={self.location!r}, folder={str(self.folder)!r})"

    def describe(self) -> str:
        return f"{self.location}\\My (folder {self.folder})"

    def find(
        self, *, thumbprint: str | None = None, subject_name: str | None = None, now: dt.datetime | None = None
    ) -> StoreSearch:
        """Certificates matching the thumbprint (preferred when both are given) or the subject, usable now
        (a private key, inside their validity period), newest ``not_valid_before`` first."""
        if not thumbprint and not subject_name:
            raise ValueError("give a thumbprint or a subject name")
        loaded, skipped, files = self._read()
        wanted = normalize_thumbprint(thumbprint) if thumbprint else None
        matches: dict[str, StoredCertificate] = {}
        for stored in loaded:
            if wanted is not None and stored.thumbprint != wanted:
                continue
            if wanted is None and not subject_matches(stored.certificate, subject_name or ""):
                continue
            problem = stored.validity_problem(now)
            if problem:
                skipped.append(Skipped(f"{stored.thumbprint} ({_name(stored.origin)})", problem))
            elif stored.thumbprint not in matches:
                matches[stored.thumbprint] = stored
        ordered = sorted(matches.values(), key=lambda s: s.not_before, reverse=True)
        return StoreSearch(tuple(ordered), tuple(skipped), files)

    def _read(self) -> tuple[list[StoredCertificate], list[Skipped], int]:
        if sys.platform == "win32" and not self.explicit:
            raise CertificateStoreError(
                f"appauth does not read the Windows certificate store yet. Export the certificate with its key "
                f"to a .pfx or .pem file in a folder and name it in {STORE_FOLDER_VARIABLES[self.location]}, or "
                "use KeyVaultCertificateSecretIdentifier or AppKey instead."
            )
        if self.folder.exists() and not self.folder.is_dir():
            raise CertificateStoreError(f"the certificate store {self.folder} is not a folder")
        loaded: list[StoredCertificate] = []
        skipped: list[Skipped] = []
        paths = _certificate_files(self.folder)
        for path in paths:
            try:
                loaded.append(self._load(path))
            except (OSError, ValueError, UnsupportedAlgorithm) as exc:
                skipped.append(Skipped(path.name, _short_reason(exc)))
        return loaded, skipped, len(paths)

    def _load(self, path: Path) -> StoredCertificate:
        data = path.read_bytes()
        if path.suffix.lower() == ".pem":
            return load_pem(data, str(path), self._password)
        return load_pkcs12(data, str(path), (None, b"", *((self._password,) if self._password else ())))


def _default_folder(location: str) -> Path:
    if location == LOCAL_MACHINE:
        return LOCAL_MACHINE_FOLDER
    return Path.home() / DOTNET_CURRENT_USER_FOLDER


def _certificate_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CERTIFICATE_SUFFIXES)


def _name(origin: str) -> str:
    return Path(origin).name


def _short_reason(exc: Exception) -> str:
    if isinstance(exc, CertificateLoadError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    return f"not a certificate file we can read ({type(exc).__name__})"


def describe_skipped(skipped: Iterable[Skipped], limit: int = 10) -> str:
    """``; ``-separated, at most ``limit`` entries (a folder may hold many unrelated files)."""
    items = [str(s) for s in skipped]
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")
