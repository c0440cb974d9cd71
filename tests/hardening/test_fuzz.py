"""Fuzzing with hypothesis: the connection-string parser, the ``@Microsoft.KeyVault(...)`` reference parser, the
vault-host allow-list and secret names raise only their typed errors whatever the input, and what they accept
is what is sent; token endpoints and Key Vault answering with arbitrary JSON end in a token, a value or a
typed error.

Each property runs twice: a sample in ``make test`` (``quick``) and at least 100,000 examples under the
``long`` marker (``make hardening``; the reply fuzzers, which make a round trip per example, run 2,000).
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3.util
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from appauth_core import (
    AppAuthError,
    AzureServiceTokenProvider,
    ConnectionStringError,
    InvalidReferenceError,
    InvalidSecretNameError,
    KeyVaultConfigurationError,
    KeyVaultSecrets,
    VaultNotAllowedError,
    is_reference,
)
from appauth_core.keyvault._references import (
    SECRET_NAME_PATTERN,
    SECRET_VERSION_PATTERN,
    check_secret_name,
    check_secret_version,
    parse_reference,
)
from appauth_core.testing import AzureEmulator
from appauth_core.tokens import TokenCache
from appauth_core.tokens._connection_string import parse_connection_string
from appauth_core.tokens._vault_hosts import PUBLIC_VAULT_SUFFIXES, HostPattern, VaultHostAllowList, VaultOrigin
from appauth_core.tokens.sources._base import is_valid_resource, is_valid_tenant
from tests.core import test_connection_string as connection_strings

QUICK = 300
LONG = 100_000
REPLIES_QUICK = 25
REPLIES_LONG = 2_000

TRIED: Counter[str] = Counter()
"""Examples tried per property in this run (printed by the long runs)."""


def runs(quick: int = QUICK, long: int = LONG) -> Any:
    return pytest.mark.parametrize(
        "examples", [pytest.param(quick, id="quick"), pytest.param(long, id="long", marks=pytest.mark.long)]
    )


def fuzz(name: str, examples: int, strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> None:
    """Run ``check`` on ``examples`` values drawn from ``strategy`` (no example database: nothing is written)."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(strategy)
    def run(value: Any) -> None:
        TRIED[name] += 1
        check(value)

    started = time.monotonic()
    run()
    if examples >= LONG or examples >= REPLIES_LONG:
        print(f"\n{name}: {TRIED[name]} examples in {time.monotonic() - started:.0f} s")


def mutated(base: st.SearchStrategy[str], alphabet: str) -> st.SearchStrategy[str]:
    """``base`` with up to four characters inserted, deleted or replaced (from ``alphabet``) anywhere."""
    edit = st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.integers(0, 300), st.sampled_from(alphabet))

    def apply(text: str, edits: list[tuple[str, int, str]]) -> str:
        for operation, at, char in edits:
            at %= len(text) + 1
            if operation == "insert":
                text = text[:at] + char + text[at:]
            elif operation == "delete":
                text = text[:at] + text[at + 1 :]
            else:
                text = text[:at] + char + text[at + 1 :]
        return text

    return st.builds(apply, base, st.lists(edit, max_size=4))


# --- connection strings (the properties of tests/core/test_connection_string.py, run longer) -----------------


@runs()
def test_connection_string_any_text(examples: int) -> None:
    check = connection_strings.test_any_text_parses_or_raises_connection_string_error.hypothesis.inner_test
    fuzz("connection string: any text", examples, st.text(max_size=60) | connection_strings.soup, check)


@runs()
def test_connection_string_secret_never_leaks(examples: int) -> None:
    inner = connection_strings.test_secret_never_leaks_from_mutated_text.hypothesis.inner_test
    strategy = st.tuples(
        st.sampled_from(connection_strings.BASES), st.lists(connection_strings.mutation, min_size=1, max_size=4)
    )
    fuzz("connection string: AppKey never leaks", examples, strategy, lambda pair: inner(*pair))


@runs()
def test_connection_string_builds_a_provider_or_raises_a_typed_error(examples: int) -> None:
    """Beyond the parser: choosing and building the token source (thumbprints, Key Vault identifiers ...)."""
    texts = (
        connection_strings.valid_settings().map(lambda parsed: parsed.to_connection_string())
        | connection_strings.soup
        | mutated(
            st.sampled_from(
                [
                    "RunAs=App;AppId=a;TenantId=t;CertificateThumbprint=0123456789ABCDEF0123456789ABCDEF01234567;"
                    "CertificateStoreLocation=CurrentUser",
                    "RunAs=App;AppId=a;KeyVaultCertificateSecretIdentifier=https://v.vault.azure.net/secrets/c",
                    "RunAs=App;AppId=a;TenantId=t;AppKey=k;AzureAdInstance=https://login.microsoftonline.us/",
                    "RunAs=App;MsiRetryTimeout=5",
                ]
            ),
            ";='\"[]:/@ x0",
        )
    )

    def check(text: str) -> None:
        error: AppAuthError | None = None
        try:
            provider = AzureServiceTokenProvider(text, environ={})
        except AppAuthError as caught:
            error = caught
        if error is not None:
            assert isinstance(error, ConnectionStringError), repr(error)
        elif text.strip():
            assert repr(parse_connection_string(text).redacted) in repr(provider)  # the AppKey redacted

    fuzz("connection string: provider", examples, texts, check)


# --- references ------------------------------------------------------------------------------------------------

URL_CHARS = "/\\@:;=()[].%#?&~ \t\n" + "\u3002\uff0e\uff0f\u2024\u200b\u0430\u0435\u043e\u212a" + "abcdef019"
"""Characters that break URLs and parsers: separators, whitespace, the dots IDNA maps to "." (ideographic and
fullwidth full stops), a fullwidth solidus, a one-dot leader, a zero-width space, Cyrillic a, e and o, and the
Kelvin sign (which lower-cases to k)."""

TRICKY_HOSTS = [
    "myvault.vault.azure.net",
    "MyVault.Vault.Azure.Net",
    "myvault.vault.azure.net.",
    "vault.azure.net",
    "a.b.vault.azure.net",
    "myvault.vault.azure.net.evil.example",
    "myvault.vault.azure.net@evil.example",
    "evil.example#.vault.azure.net",
    "evil.example\\.vault.azure.net",
    "myvault.vault.azure.cn",
    "myvault.vault.usgovcloudapi.net",
    "myvault.managedhsm.azure.net",
    "evilvault.azure.net",
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "0",
    "0.0.0.0",  # noqa: S104 - a host to refuse: nothing binds to it
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[0:0:0:0:0:0:0:1]",
    "[::1%25lo]",
    "localhost",
    "kv.localhost",
    "localhost.evil.example",
    "169.254.169.254",  # IMDS: must be refused, never contacted
    "\uff4dyvault.vault.azure.net",  # fullwidth m
    "myvault\u3002vault\u3002azure\u3002net",  # ideographic full stops
    "myvault.vault.azure.net\uff0eevil.example",  # fullwidth full stop
    "myv\u0430ult.vault.azure.net",  # Cyrillic a
    "\u212aeyvault.vault.azure.net",  # Kelvin sign: lower() gives "k"
    "xn--myvult-2ua.vault.azure.net",
    "myvault.vault.azure.net%2eevil.example",
    "my_vault.vault.azure.net",
    "-myvault.vault.azure.net",
]
PORTS = [
    "",
    ":443",
    ":0443",
    ":8443",
    ":65535",
    ":65536",
    ":0",
    ":",
    ":abc",
    ":-1",
    ":+443",
    ": 443",
    ":\uff14\uff14\uff13",
]
SCHEMES = ["https://", "HTTPS://", "http://", "https:/", "https:\\\\", "//", "", "https:///", "hxxps://"]
USERINFO = ["", "user@", "user:pw@", "myvault.vault.azure.net@", "@", "a@b@"]
PATHS = ["/secrets/db-password", "/secrets/db-password/", "/secrets/db-password/" + "0" * 32, "/secrets/x/y/z",
         "/Secrets/db-password", "/secrets//db-password", "/secrets/db%2dpassword", "/secrets/../keys/k",
         "/secrets/db-password?api-version=1", "/secrets/db-password#x", "", "/"]  # fmt: skip

hosts = st.sampled_from(TRICKY_HOSTS) | st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,8}){0,3}", fullmatch=True)
urls = st.builds(
    lambda scheme, user, host, port, path: scheme + user + host + port + path,
    st.sampled_from(SCHEMES),
    st.sampled_from(USERINFO),
    hosts | hosts.map(lambda h: h + ".vault.azure.net"),
    st.sampled_from(PORTS),
    st.sampled_from(PATHS),
)
secret_uris = mutated(urls, URL_CHARS)


def _any_case(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(word, upper, strict=True))
    )


# Built once: building strategies (regexes above all) inside the composite costs more than drawing from them.
spaces = st.sampled_from(["", " ", "  ", "\t"])
KEY_WORDS = ("SecretUri", "VaultName", "SecretName", "SecretVersion", "Extra")
CASED = {word: _any_case(word) for word in KEY_WORDS}
PREFIXES = _any_case("@Microsoft.KeyVault(") | st.sampled_from(["@Microsoft.KeyVault (", "@Microsoft.Vault("])
VALUES = {
    "VaultName": st.from_regex(r"[A-Za-z][A-Za-z0-9-]{1,25}", fullmatch=True) | st.text(max_size=8),
    "SecretName": st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True) | st.text(max_size=8),
    "SecretVersion": st.from_regex(r"[0-9a-f]{32}", fullmatch=True) | st.text(max_size=8),
}
EXTRA_PAIRS = st.sampled_from(
    [("SecretUri", "https://v.vault.azure.net/secrets/x"), ("Extra", "1"), ("VaultName", "again")]
)
SEPARATORS = st.sampled_from([";", " ; ", ";;"])
SUFFIXES = st.sampled_from([")", " )", "", "))", ") trailing"])


@st.composite
def references(draw: st.DrawFn) -> str:
    prefix = draw(PREFIXES)
    if draw(st.booleans()):
        body = draw(CASED["SecretUri"]) + draw(spaces) + "=" + draw(spaces) + draw(secret_uris)
    else:
        keys = ["VaultName", "SecretName"] + (["SecretVersion"] if draw(st.booleans()) else [])
        pairs = [(key, draw(VALUES[key])) for key in keys]
        if draw(st.booleans()):
            pairs.append(draw(EXTRA_PAIRS))
        pairs = draw(st.permutations(pairs))
        body = draw(SEPARATORS).join(
            draw(CASED[key]) + draw(spaces) + "=" + draw(spaces) + value for key, value in pairs
        )
    return draw(spaces) + prefix + body + draw(SUFFIXES)


reference_texts = (
    references()
    | mutated(references(), URL_CHARS)
    | st.text(max_size=40).map(lambda text: "@Microsoft.KeyVault(" + text)
)
VAULT_SUFFIXES = st.sampled_from(["vault.azure.net", "vault.azure.cn", "localhost:8443", ".vault.azure.net."])


class RefusingProvider:
    """Stands in for the provider where no token may be asked for: any request for one is counted."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise AssertionError("a token was asked for")

    get_token_info = get_token
    get_access_token = get_token


def _check_reference(pair: tuple[str, str]) -> None:
    text, suffix = pair
    message = None
    try:
        ref = parse_reference(text, vault_suffix=suffix)
    except InvalidReferenceError as error:
        message = str(error)
    if message is not None:
        assert message.startswith("invalid Key Vault reference"), message
        return
    assert is_reference(text)
    assert SECRET_NAME_PATTERN.fullmatch(ref.name), ref
    assert ref.version is None or SECRET_VERSION_PATTERN.fullmatch(ref.version), ref
    assert VaultOrigin.parse(ref.vault_url) == ref.origin  # what was checked is what is sent
    assert parse_reference(f"@Microsoft.KeyVault(SecretUri={ref})") == ref


@runs()
def test_reference_parser_raises_only_invalid_reference_error(examples: int) -> None:
    fuzz("reference parser", examples, st.tuples(reference_texts, VAULT_SUFFIXES), _check_reference)


@runs()
def test_resolve_never_asks_for_a_token_for_a_host_off_the_allow_list(examples: int) -> None:
    """Not a reference: returned as it is. A reference to a host off the list: VaultNotAllowedError, no token.
    (References to allowed hosts are not resolved here: that would be a request.)"""
    provider = RefusingProvider()
    secrets = KeyVaultSecrets("https://myvault.vault.azure.net/", provider)  # type: ignore[arg-type]

    def check(text: str) -> None:
        if not is_reference(text):
            assert secrets.resolve(text) is text
            return
        try:
            ref = parse_reference(text)
        except InvalidReferenceError:
            with pytest.raises(InvalidReferenceError):
                secrets.resolve(text)
            return
        if not _oracle_allows(ref.origin, configured=VaultOrigin("myvault.vault.azure.net")):
            with pytest.raises(VaultNotAllowedError):
                secrets.resolve(text)
        assert provider.calls == 0

    fuzz("resolve: allow-list before any token", examples, reference_texts | st.text(max_size=30), check)


# --- the vault-host allow-list ---------------------------------------------------------------------------------


def _oracle_allows(origin: VaultOrigin, *, configured: VaultOrigin | None = None, suffix: str | None = None) -> bool:
    """The README's rule, written again independently: the configured vault exactly; on 443, one label below a
    public suffix; one label below the configured suffix on its port."""
    if configured is not None and (origin.host, origin.port) == (configured.host, configured.port):
        return True
    suffixes = [(s, 443) for s in PUBLIC_VAULT_SUFFIXES]
    if suffix is not None:
        name, _, port = suffix.partition(":")
        suffixes.append((name, int(port) if port else 443))
    for name, port in suffixes:
        label, dot, rest = origin.host.partition(".")
        if origin.port == port and dot and label and rest == name:
            return True
    return False


def _sent_to(url: str) -> tuple[str, int]:
    """Where an HTTP client (urllib3, as requests and azure-core use it) would connect for ``url``."""
    parsed = urllib3.util.parse_url(url)
    assert parsed.host is not None
    return parsed.host.strip("[]").lower(), parsed.port or 443


def _check_origin(url: str) -> None:
    try:
        origin = VaultOrigin.parse(url)
    except ValueError:
        if url:  # KeyVaultSecrets("") is "no default vault"
            with pytest.raises(KeyVaultConfigurationError):
                KeyVaultSecrets(url)
        return
    # What we send is exactly what we checked, in urllib3's reading and in urllib's.
    assert _sent_to(origin.url) == (origin.host, origin.port), (url, origin)
    assert VaultOrigin.parse(origin.url) == origin
    assert origin.host.isascii() and origin.host == origin.host.lower()
    try:
        ipaddress.ip_address(origin.host)
    except ValueError:
        assert re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)*", origin.host), origin
    # And the URL as written goes to the same place in every parser: no parser differential to exploit.
    assert (urlsplit(url).hostname or "").rstrip(".") == origin.host or _is_ip_spelling(url, origin), (url, origin)
    try:
        written = _sent_to(url)
    except (urllib3.exceptions.LocationParseError, AssertionError):
        written = None
    assert (
        written is None
        or (written[0].rstrip("."), written[1]) == (origin.host, origin.port)
        or _is_ip_spelling(url, origin)
    ), (url, written, origin)
    allow = VaultHostAllowList.build(vault_suffix="vault.example:8443")
    assert allow.allows(origin) == _oracle_allows(origin, suffix="vault.example:8443"), origin


def _is_ip_spelling(url: str, origin: VaultOrigin) -> bool:
    """``[0:0:0:0:0:0:0:1]`` is kept as ``::1``: another spelling of one address."""
    host = urlsplit(url).hostname or ""
    try:
        return str(ipaddress.ip_address(host)) == origin.host
    except ValueError:
        return False


@runs()
def test_vault_origins(examples: int) -> None:
    fuzz("vault URL origins", examples, urls | mutated(urls, URL_CHARS) | st.text(max_size=40), _check_origin)


@runs()
def test_allowed_host_entries(examples: int) -> None:
    entries = st.builds(
        lambda scheme, wildcard, host, port, path: scheme + wildcard + host + port + path,
        st.sampled_from(["", "https://", "http://", "HTTPS://"]),
        st.sampled_from(["", "*.", "*", "**.", ".*."]),
        hosts,
        st.sampled_from(PORTS),
        st.sampled_from(["", "/", "/path"]),
    )

    def check(entry: str) -> None:
        message = None
        try:
            pattern = HostPattern.parse(entry)
        except ValueError as error:
            message = str(error)
        if message is not None:
            assert message.startswith("allowed vault host"), message
            with pytest.raises(KeyVaultConfigurationError):
                KeyVaultSecrets("https://myvault.vault.azure.net/", allowed_hosts=[entry])
            return
        host = f"[{pattern.host}]" if ":" in pattern.host else pattern.host
        again = f"https://{'*.' if pattern.wildcard else ''}{host}:{pattern.port}"
        assert HostPattern.parse(again) == pattern
        assert "*" not in pattern.host

    fuzz("allowed host entries", examples, entries | mutated(entries, URL_CHARS + "*"), check)


# --- names, versions, resources and tenants --------------------------------------------------------------------


@runs()
def test_secret_names_and_versions(examples: int) -> None:
    provider = RefusingProvider()
    secrets = KeyVaultSecrets("https://myvault.vault.azure.net/", provider)  # type: ignore[arg-type]
    names = st.text(max_size=130) | st.from_regex(r"[A-Za-z0-9-]{1,127}\n?", fullmatch=True)

    def check(pair: tuple[str, str | None]) -> None:
        name, version = pair
        valid_name = re.fullmatch(r"[0-9a-zA-Z-]{1,127}", name, flags=re.ASCII) is not None
        valid_version = version in (None, "") or re.fullmatch(r"[0-9a-zA-Z]{1,64}", version, flags=re.ASCII)
        try:
            check_secret_name(name)
            check_secret_version(version, name=name)
        except InvalidSecretNameError:
            assert not (valid_name and valid_version)
            with pytest.raises(InvalidSecretNameError):
                secrets.get(name, version)
            assert provider.calls == 0
        else:
            assert valid_name and valid_version, (name, version)

    fuzz("secret names and versions", examples, st.tuples(names, st.none() | names), check)


@runs()
def test_resources_and_tenants(examples: int) -> None:
    """They reach command lines (Azure CLI, Visual Studio) and URLs: only the documented characters pass."""
    texts = st.text(max_size=40) | st.from_regex(r"[A-Za-z0-9_.:/-]{1,30}[\n\r]?", fullmatch=True)

    def check(text: str) -> None:
        assert is_valid_resource(text) == bool(re.fullmatch(r"[0-9A-Za-z_\-.:/]+", text, flags=re.ASCII))
        is_tenant = re.fullmatch(r"[0-9A-Za-z\-.]+", text, flags=re.ASCII) and text not in (".", "..")  # path segments
        assert is_valid_tenant(text) == bool(is_tenant)

    fuzz("resources and tenants", examples, texts, check)


# --- token endpoints and Key Vault answering arbitrary JSON (on the emulator) ----------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
edge_numbers = st.sampled_from([0, -1, -120, 3599, "3599", "-120", 1e300, "1e300", 1e18, 2**63, "nan", "inf", ""])
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | edge_numbers


def near_replies(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with the reply's own keys and values of any type: the replies that get furthest into a parser."""
    return st.dictionaries(st.sampled_from(keys), scalars | json_values, max_size=len(keys))


TOKEN_KEYS = ["access_token", "expires_on", "expires_in", "token_type", "resource", "client_id", "refresh_in",
              "ext_expires_in", "error", "error_description", "error_codes", "statusCode", "message"]  # fmt: skip
BUNDLE_KEYS = ["value", "id", "attributes", "tags", "contentType", "kid", "managed"]


def replies(
    keys: list[str], good: Callable[[], dict[str, Any]], statuses: tuple[int, ...] = (200, 200, 200, 400, 401, 404, 500)
) -> st.SearchStrategy[tuple[int, Any]]:
    bodies = (
        near_replies(keys)
        | json_values
        | st.builds(
            lambda base, key, value: {**base, key: value}, st.builds(good), st.sampled_from(keys), scalars | json_values
        )
    )
    return st.tuples(st.sampled_from(statuses), bodies)


def _reply_fuzz(
    name: str,
    examples: int,
    emulator: AzureEmulator,
    endpoint: str,
    strategy: st.SearchStrategy[tuple[int, Any]],
    call: Callable[[], str],
) -> None:
    def check(reply: tuple[int, Any]) -> None:
        status, body = reply
        try:
            text = json.dumps(body, allow_nan=True)
        except (ValueError, OverflowError):
            assume(False)
        emulator.faults.clear()
        emulator.faults.inject(endpoint, status=status, body=text, headers={"Content-Type": "application/json"})
        try:
            value = call()
        except AppAuthError:
            return
        finally:
            emulator.faults.clear()
        assert isinstance(value, str), (reply, value)
        assert value or endpoint.startswith("keyvault"), (reply, value)  # a secret may be empty; a token not

    fuzz(name, examples, strategy, check)


@runs(REPLIES_QUICK, REPLIES_LONG)
def test_managed_identity_replies(
    examples: int, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    identity = azure_emulator.directory.system_identity

    def good() -> dict[str, Any]:
        token = azure_emulator.issue_token("https://vault.azure.net", identity=identity)
        return {"access_token": token.access_token, "expires_on": str(token.expires_on), "token_type": "Bearer",
                "resource": "https://vault.azure.net", "client_id": identity.client_id}  # fmt: skip

    def call() -> str:
        provider = AzureServiceTokenProvider(
            "RunAs=App;MsiRetryTimeout=1", cache=TokenCache(), environ=azure_emulator.app_service_env()
        )
        result = provider.get_authentication_result("https://vault.azure.net")
        provider.get_token("https://vault.azure.net/.default")
        return result.access_token

    # No retryable status (404, 429, 5xx): each would cost a back-off, and the fault matrix covers retries.
    strategy = replies(TOKEN_KEYS, good, statuses=(200, 200, 200, 400, 401, 403))
    _reply_fuzz("managed identity replies", examples, azure_emulator, "mi.app_service", strategy, call)


@runs(REPLIES_QUICK, REPLIES_LONG)
def test_entra_token_replies(examples: int, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> None:
    app = azure_emulator.app
    connection = f"RunAs=App;AppId={app.app_id};TenantId={azure_emulator.tenant_id};AppKey={app.secrets[0]}"

    def good() -> dict[str, Any]:
        token = azure_emulator.issue_token("https://vault.azure.net", app=app)
        return {"access_token": token.access_token, "expires_in": 3599, "token_type": "Bearer"}

    def call() -> str:
        provider = AzureServiceTokenProvider(connection, azure_emulator.authority, cache=TokenCache())
        result = provider.get_authentication_result("https://vault.azure.net")
        provider.get_token("https://vault.azure.net/.default")
        return result.access_token

    _reply_fuzz("Entra token replies", examples, azure_emulator, "entra.token", replies(TOKEN_KEYS, good), call)


@runs(REPLIES_QUICK, REPLIES_LONG)
def test_entra_discovery_replies(
    examples: int, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    app = azure_emulator.app
    connection = f"RunAs=App;AppId={app.app_id};TenantId={azure_emulator.tenant_id};AppKey={app.secrets[0]}"
    keys = ["token_endpoint", "authorization_endpoint", "issuer", "jwks_uri", "device_authorization_endpoint"]

    def good() -> dict[str, Any]:
        base = f"{azure_emulator.authority}{azure_emulator.tenant_id}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "issuer": f"{base}/v2.0",
        }

    def call() -> str:
        provider = AzureServiceTokenProvider(connection, azure_emulator.authority, cache=TokenCache())
        return provider.get_access_token("https://vault.azure.net")

    _reply_fuzz("Entra discovery replies", examples, azure_emulator, "entra.discovery", replies(keys, good), call)


@runs(REPLIES_QUICK, REPLIES_LONG)
def test_key_vault_replies(examples: int, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> None:
    azure_emulator.vault.set_secret("fuzzed", "the-value")
    provider = AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=azure_emulator.app_service_env())
    provider.get_access_token("https://vault.azure.net", tenant_id=azure_emulator.tenant_id)

    def good() -> dict[str, Any]:
        return {"value": "the-value", "id": f"{azure_emulator.vault.url}secrets/fuzzed/{'0' * 32}",
                "attributes": {"enabled": True, "created": 1, "updated": 1}}  # fmt: skip

    def call() -> str:
        with KeyVaultSecrets(azure_emulator.vault.url, provider, client_options={"retry_total": 0}) as secrets:
            return secrets.get("fuzzed")

    strategy = replies(BUNDLE_KEYS, good)
    _reply_fuzz("Key Vault replies", examples, azure_emulator, "keyvault.local.get_secret", strategy, call)
