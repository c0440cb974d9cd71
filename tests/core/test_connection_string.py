"""The connection-string grammar (.NET's DbConnectionOptions, with its own test cases), the choice of token
source (the .NET factory's order), the errors we add where .NET silently ignored mistakes, and that no
message or repr ever shows the AppKey secret."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from appauth_core.errors import AzureServiceTokenProviderError, ConnectionStringError
from appauth_core.tokens._connection_string import (
    KEYS,
    METHODS,
    REDACTED,
    SOURCES,
    VALID_KEYS,
    ConnectionSettings,
    parse_connection_string,
)
from appauth_core.tokens._connection_string_syntax import Pair, tokenize
from appauth_core.tokens._selection import BUILDERS

CANARY = "Qz8vKx2Lw9Mj"  # a stand-in secret: no 5 characters of it occur in any message by chance
SECRET_APP = "RunAs=App;AppId=app-1;TenantId=contoso.onmicrosoft.com"
KNOWN_KEYS = {key.lower(): key for key in VALID_KEYS}


def _tokenize(text: str) -> list[Pair]:
    return tokenize(text, KNOWN_KEYS)


FIX_WORDS = ("Add", "Remove", "Set", "Use", "Write", "Keep", "Put", "Close", "Quote", "Either")


def fragments(secret: str, size: int = 5) -> set[str]:
    """Every run of ``size`` letters or digits in the secret: what a partial leak would show."""
    pieces = re.findall(r"[A-Za-z0-9]+", secret)
    return {piece[i : i + size] for piece in pieces for i in range(len(piece) - size + 1)}


def assert_no_secret(text: str, secret: str = CANARY) -> None:
    leaked = sorted(fragment for fragment in fragments(secret) if fragment in text)
    assert not leaked, f"secret fragments {leaked} in {text!r}"


def error_of(text: str) -> ConnectionStringError:
    with pytest.raises(ConnectionStringError) as caught:
        parse_connection_string(text)
    return caught.value


# --- grammar ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        # .NET AzureServiceTokenProviderFactoryTests: accepted
        ("KeyName='value=true'", [("KeyName", "value=true")]),
        ("KeyName= '''value1;value2''' ", [("KeyName", "'value1;value2'")]),
        # the rest of DbConnectionOptions
        ("a=1;b=2", [("a", "1"), ("b", "2")]),
        ("  a = 1 ;  b =  2  ;  ", [("a", "1"), ("b", "2")]),
        (";;a=1;;;b=2;;", [("a", "1"), ("b", "2")]),
        ("a=x y  z", [("a", "x y  z")]),
        ("a=x=y", [("a", "x=y")]),
        ("a=", [("a", "")]),
        ("a=;b=2", [("a", ""), ("b", "2")]),
        ('a="x""y"', [("a", 'x"y')]),
        ('a="it\'s"', [("a", "it's")]),
        ("a='say \"hi\"'", [("a", 'say "hi"')]),
        ("a=' x;y '", [("a", " x;y ")]),
        ('a=""', [("a", "")]),
        ("a==b=c", [("a=b", "c")]),
        ("Key Name=v", [("Key Name", "v")]),
        ('a=x"y', [("a", 'x"y')]),
        ('a="\x01"', [("a", "\x01")]),
        ("a=1\x00", [("a", "1")]),
        ("a=1;\x00\x00", [("a", "1")]),
        (" ; ", []),
    ],
)
def test_grammar_accepts(text: str, pairs: list[tuple[str, str]]) -> None:
    assert [(pair.key, pair.value) for pair in _tokenize(text)] == pairs


@pytest.mark.parametrize(
    "text",
    [
        # .NET AzureServiceTokenProviderFactoryTests: rejected
        "KeyName=''value''",
        "KeyName='value'value;",
        "KeyName='value\"",
        # the rest of DbConnectionOptions
        "a",
        "a=1;b",
        "=1",
        "a==1",
        "a='x",
        'a="x',
        "a=x'",
        'a=x"',
        "a=x\x01y",
        "a=1;\x00b",
    ],
)
def test_grammar_rejects(text: str) -> None:
    with pytest.raises(ConnectionStringError, match=r"^Invalid connection string: "):
        _tokenize(text)


@pytest.mark.parametrize(
    ("value_text", "app_id"),
    [
        ("'value=true'", "value=true"),
        (" '''value1;value2''' ", "'value1;value2'"),
        ("MyApp", "MyApp"),
        ('"a""b"', 'a"b'),
        ("' spaced '", " spaced "),
        ("x y", "x y"),
    ],
)
def test_values_keep_case_and_quoting_rules(value_text: str, app_id: str) -> None:
    assert parse_connection_string(f"runas=app;APPID={value_text}").app_id == app_id


@pytest.mark.parametrize("value_text", ["''value''", "'value'value;", "'value\""])
def test_dotnet_rejected_values(value_text: str) -> None:
    error = error_of(f"RunAs=App;AppId={value_text}")
    assert error.key == "AppId"


def test_keys_ignore_case_and_values_do_not() -> None:
    parsed = parse_connection_string("rUNaS=aPP;aPpId=MixedCase;tenantid=T;appkey=K")
    assert (parsed.run_as, parsed.app_id, parsed.tenant_id, parsed.app_key) == ("App", "MixedCase", "T", "K")


# --- sources ------------------------------------------------------------------------------------------------

THUMB = "0123456789ABCDEF0123456789ABCDEF01234567"
KV_ID = "https://myvault.vault.azure.net/secrets/mycert"


@pytest.mark.parametrize(
    ("text", "source", "expected"),
    [
        ("RunAs=Developer;DeveloperTool=AzureCli", "azure_cli", {"developer_tool": "AzureCli"}),
        ("RunAs=Developer;DeveloperTool=AzureCLI", "azure_cli", {"developer_tool": "AzureCli"}),
        ("RunAs=developer;DeveloperTool=azurecli", "azure_cli", {"run_as": "Developer"}),
        ("RunAs=Developer;DeveloperTool=VisualStudio", "visual_studio", {"developer_tool": "VisualStudio"}),
        ("RunAs=CurrentUser", "current_user", {"run_as": "CurrentUser"}),
        (
            "RunAs=CurrentUser;AzureAdInstance=https://login.microsoftonline.us",
            "current_user",
            {"azure_ad_instance": "https://login.microsoftonline.us/"},
        ),
        ("RunAs=App", "managed_identity", {"app_id": None}),
        ("RunAs=App;MsiRetryTimeout=5", "managed_identity", {"msi_retry_timeout": 5}),
        ("RunAs=App;MsiRetryTimeout=0", "managed_identity", {"msi_retry_timeout": 0}),
        ("RunAs=App;AppId=uami", "managed_identity", {"app_id": "uami"}),
        ("RunAs=App;AppId=uami;MsiRetryTimeout=007", "managed_identity", {"msi_retry_timeout": 7}),
        (
            "RunAs=App;AppId=a;TenantId=t;CertificateThumbprint=" + THUMB + ";CertificateStoreLocation=CurrentUser",
            "certificate",
            {"certificate_thumbprint": THUMB, "certificate_store_location": "CurrentUser"},
        ),
        (
            "RunAs=App;AppId=a;TenantId=t;CertificateSubjectName=CN=myapp;CertificateStoreLocation=localmachine",
            "certificate",
            {"certificate_subject_name": "CN=myapp", "certificate_store_location": "LocalMachine"},
        ),
        (
            "RunAs=App;AppId=a;KeyVaultCertificateSecretIdentifier=" + KV_ID,
            "key_vault_certificate",
            {"key_vault_certificate_secret_identifier": KV_ID, "tenant_id": None},
        ),
        (
            "RunAs=App;AppId=a;KeyVaultCertificateSecretIdentifier=" + KV_ID + ";TenantId=t;MsiRetryTimeout=3;"
            "KeyVaultUserAssignedManagedIdentityId=uami;AzureAdInstance=https://login.chinacloudapi.cn/",
            "key_vault_certificate",
            {"key_vault_user_assigned_managed_identity_id": "uami", "msi_retry_timeout": 3},
        ),
        (
            "RunAs=App;AppId=a;TenantId=t;AppKey=s3cret",
            "client_secret",
            {"app_key": "s3cret", "tenant_id": "t"},
        ),
        (
            "RunAs=App;AppId=a;TenantId=t;AppKey=s;AzureAdInstance=https://login.microsoftonline.de/",
            "client_secret",
            {"azure_ad_instance": "https://login.microsoftonline.de/"},
        ),
    ],
)
def test_source_selection(text: str, source: str, expected: dict[str, object]) -> None:
    parsed = parse_connection_string(text)
    assert parsed.source == source
    for name, value in expected.items():
        assert getattr(parsed, name) == value


def test_every_source_is_reachable() -> None:
    assert set(SOURCES) == {
        "azure_cli",
        "visual_studio",
        "current_user",
        "managed_identity",
        "client_secret",
        "certificate",
        "key_vault_certificate",
    }
    assert {method.source for method in METHODS} == set(SOURCES)  # each one selectable
    assert set(BUILDERS) == set(SOURCES)  # and built


def test_the_tables_of_keys_and_methods_agree() -> None:
    assert tuple(key.name for key in KEYS) == VALID_KEYS
    assert {field.name for field in dataclasses.fields(ConnectionSettings) if field.init} == {
        key.attribute for key in KEYS
    }
    for method in METHODS:
        assert method.keys[0] == "RunAs" and set(method.keys) <= set(VALID_KEYS), method.name
    assert {key for method in METHODS for key in method.keys} == set(VALID_KEYS)  # every key is read somewhere
    assert [key.name for key in KEYS if key.secret] == ["AppKey"]
    for run_as in ("Developer", "CurrentUser", "App"):  # the last method of each RunAs takes what is left
        last = [method for method in METHODS if method.run_as == run_as][-1]
        assert last.name in ("visual_studio", "current_user", "user_assigned_managed_identity")


# --- errors -------------------------------------------------------------------------------------------------

ERRORS = [
    # (connection string, error.key, words the message must contain)
    ("", None, ["empty"]),
    ("   \t ", None, ["empty"]),
    ('"RunAs=App"', None, ["wrapped in quotes", "Remove the surrounding quotes"]),
    ("'RunAs=App;AppId=x'", None, ["wrapped in quotes"]),
    ('"RunAs=App', None, ["starts with a quote"]),
    ("RunAs", None, ["no '='", "character 1"]),
    ("RunAs=App;AppId", None, ["no '='", "character 11"]),
    ("=App", None, ["no key"]),
    ("RunAs==App", None, ["'=='", "literal"]),
    ("RunAs=App;AppId='abc", "AppId", ["never closed", "character 17"]),
    ("RunAs=App;AppId='abc'def", "AppId", ["more text follows its closing quote"]),
    ("RunAs=App;AppId=abc'", "AppId", ["ends with a quote"]),
    ("RunAs=App;AppId=a\x01b", "AppId", ["control character", "character 18"]),
    ("RunAs=App;Secret=x", "Secret", ["unknown key 'Secret'", "Did you mean AppKey?", "KeyVaultCertificate"]),
    ("RunAs=App;ClientId=x", "ClientId", ["Did you mean AppId?"]),
    ("RunAs=App;TenantID=t;Tennant=x", "Tennant", ["Did you mean TenantId?"]),
    ("RunAs=App;KeyVaultAppId=x", "KeyVaultAppId", ["unknown key 'KeyVaultAppId'"]),
    ("RunAs=App;App==Id=x", None, ["the key at character 11 is not a known key"]),
    ("RunAs=App;RunAs=App", "RunAs", ["more than once"]),
    ("RunAs=App;runas=Developer", "RunAs", ["more than once"]),
    ("AppId=a", "RunAs", ["no RunAs"]),
    (";;;", "RunAs", ["no RunAs"]),
    ("RunAs=", "RunAs", ["RunAs is empty", "Developer, CurrentUser or App"]),
    ("RunAs=' '", "RunAs", ["RunAs is empty"]),
    ("RunAs=Application", "RunAs", ["RunAs must be Developer, CurrentUser or App", "Did you mean RunAs=App?"]),
    ("RunAs=Invalid", "RunAs", ["RunAs must be"]),
    ("RunAs=App AppId=x", "RunAs", ["';' missing"]),
    ("RunAs=Developer", "DeveloperTool", ["needs DeveloperTool"]),
    ("RunAs=Developer;DeveloperTool=", "DeveloperTool", ["DeveloperTool is empty"]),
    ("RunAs=Developer;DeveloperTool=Eclipse", "DeveloperTool", ["must be AzureCli or VisualStudio"]),
    ("RunAs=Developer;DeveloperTool=az", "DeveloperTool", ["Did you mean DeveloperTool=AzureCli?"]),
    ("RunAs=App;AppId=", "AppId", ["AppId is empty"]),
    ("RunAs=App;AppId=a;TenantId=t;AppKey=", "AppKey", ["AppKey is empty", "client secret"]),
    ("RunAs=App;AppId=a;TenantId=t;AppKey=''", "AppKey", ["AppKey is empty"]),
    ("RunAs=App;AppId=a;AppKey=k", "TenantId", ["needs TenantId"]),
    (
        "RunAs=App;AppId=a;CertificateStoreLocation=CurrentUser;TenantId=t",
        "CertificateStoreLocation",
        ["CertificateThumbprint", "CertificateSubjectName"],
    ),
    (
        "RunAs=App;AppId=a;TenantId=t;CertificateThumbprint=x",
        "CertificateStoreLocation",
        ["need CertificateStoreLocation"],
    ),
    (
        "RunAs=App;AppId=a;TenantId=t;CertificateSubjectName=CN=x",
        "CertificateStoreLocation",
        ["need CertificateStoreLocation"],
    ),
    (
        "RunAs=App;AppId=a;TenantId=t;CertificateThumbprint=x;CertificateStoreLocation=Desk",
        "CertificateStoreLocation",
        ["must be CurrentUser or LocalMachine"],
    ),
    (
        "RunAs=App;AppId=a;TenantId=t;CertificateThumbprint=x;CertificateStoreLocation=",
        "CertificateStoreLocation",
        ["CertificateStoreLocation is empty"],
    ),
    (
        "RunAs=App;AppId=a;CertificateThumbprint=x;CertificateStoreLocation=CurrentUser",
        "TenantId",
        ["needs TenantId"],
    ),
    (
        "RunAs=App;AppId=a;TenantId=t;CertificateThumbprint=x;CertificateSubjectName=CN=x;"
        "CertificateStoreLocation=CurrentUser",
        "CertificateSubjectName",
        ["Keep only one"],
    ),
    ("RunAs=App;MsiRetryTimeout=", "MsiRetryTimeout", ["MsiRetryTimeout is empty"]),
    ("RunAs=App;MsiRetryTimeout=-1", "MsiRetryTimeout", ["whole number of seconds"]),
    ("RunAs=App;MsiRetryTimeout=abc", "MsiRetryTimeout", ["whole number of seconds"]),
    ("RunAs=App;MsiRetryTimeout=1.5", "MsiRetryTimeout", ["whole number of seconds"]),
    ("RunAs=App;MsiRetryTimeout=2147483648", "MsiRetryTimeout", ["2147483647"]),
    ("RunAs=App;MsiRetryTimeout=\u0661", "MsiRetryTimeout", ["whole number"]),  # an Arabic-Indic digit
    ("RunAs=CurrentUser;AzureAdInstance=http://login.example", "AzureAdInstance", ["https"]),
    ("RunAs=CurrentUser;AzureAdInstance=login.example.com", "AzureAdInstance", ["https"]),
    ("RunAs=CurrentUser;AzureAdInstance=https://", "AzureAdInstance", ["https"]),
    ("RunAs=CurrentUser;AzureAdInstance=https://x/?a=1", "AzureAdInstance", ["no query"]),
    ("RunAs=CurrentUser;AzureAdInstance=https://[::1", "AzureAdInstance", ["https"]),
    # keys the selected method would ignore (.NET ignored them silently)
    ("RunAs=App;TenantId=t", "TenantId", ["system-assigned managed identity", "reads only RunAs, MsiRetryTimeout"]),
    ("RunAs=App;AppId=a;TenantId=t", "TenantId", ["user-assigned managed identity", "client secret"]),
    ("RunAs=App;AppKey=k;TenantId=t", "AppKey", ["system-assigned managed identity", "AppId"]),
    ("RunAs=Developer;DeveloperTool=AzureCli;AppKey=k", "AppKey", ["Azure CLI"]),
    ("RunAs=Developer;DeveloperTool=AzureCli;TenantId=t", "TenantId", ["Azure CLI"]),
    ("RunAs=Developer;DeveloperTool=VisualStudio;MsiRetryTimeout=abc", "MsiRetryTimeout", ["Visual Studio"]),
    ("RunAs=App;DeveloperTool=AzureCli", "DeveloperTool", ["RunAs=Developer"]),
    ("RunAs=CurrentUser;AppId=a", "AppId", ["Windows integrated"]),
    ("RunAs=App;AzureAdInstance=https://login.microsoftonline.com/", "AzureAdInstance", ["managed identity"]),
    (
        "RunAs=App;AppId=a;TenantId=t;AppKey=k;CertificateThumbprint=x;CertificateStoreLocation=CurrentUser",
        "AppKey",
        ["certificate from the store"],
    ),
    (
        "RunAs=App;AppId=a;TenantId=t;AppKey=k;KeyVaultCertificateSecretIdentifier=" + KV_ID,
        "AppKey",
        ["Key Vault certificate"],
    ),
    (
        "RunAs=App;AppId=a;TenantId=t;CertificateThumbprint=x;CertificateStoreLocation=CurrentUser;"
        "KeyVaultCertificateSecretIdentifier=" + KV_ID,
        "KeyVaultCertificateSecretIdentifier",
        ["certificate from the store"],
    ),
    ("RunAs=App;AppId=a;TenantId=t;AppKey=k;MsiRetryTimeout=3", "MsiRetryTimeout", ["client secret"]),
    (
        "RunAs=App;AppId=a;KeyVaultUserAssignedManagedIdentityId=u",
        "KeyVaultUserAssignedManagedIdentityId",
        ["KeyVaultCertificateSecretIdentifier"],
    ),
]


@pytest.mark.parametrize(("text", "key", "words"), ERRORS)
def test_errors(text: str, key: str | None, words: list[str]) -> None:
    error = error_of(text)
    message = str(error)
    assert error.key == key
    for word in words:
        assert word in message
    assert message.startswith("Invalid connection string: ")
    assert any(word in message for word in FIX_WORDS), f"no fix in: {message}"
    assert isinstance(error, ValueError)
    assert isinstance(error, AzureServiceTokenProviderError)


# Values that are our own vocabulary, so a message may well contain them.
OUR_WORDS = {*VALID_KEYS, "Developer", "CurrentUser", "App", "AzureCli", "VisualStudio", "LocalMachine", "Invalid"}


@pytest.mark.parametrize(("text", "key", "words"), ERRORS)
def test_errors_never_quote_values(text: str, key: str | None, words: list[str]) -> None:
    """Only our own names come back; anything the user wrote as a value stays out of the message."""
    message = str(error_of(text))
    for value in re.findall(r"=\s*([^;]{2,})", text):
        value = value.strip(" '\"")
        if len(value) >= 2 and value not in OUR_WORDS and value != "https://":
            assert value not in message
    if len(text) > 20:  # shorter ones, like RunAs=Developer, are also our examples
        assert text.strip() not in message


def test_unknown_key_lists_valid_keys() -> None:
    message = str(error_of("RunAs=App;Frobnicate=1"))
    assert "'Frobnicate'" in message
    assert "Did you mean" not in message
    for key in VALID_KEYS:
        assert key in message


# --- secrets ------------------------------------------------------------------------------------------------

CANARY_ERRORS = [
    f"{SECRET_APP};AppKey={CANARY}x'",
    f"{SECRET_APP};AppKey='{CANARY}",
    f'{SECRET_APP};AppKey="{CANARY}',
    f"{SECRET_APP};AppKey='{CANARY}'tail",
    f"{SECRET_APP};AppKey={CANARY[:6]};{CANARY[6:]}",
    f"{SECRET_APP};AppKey={CANARY[:6]};{CANARY[6:]}=x",
    f"{SECRET_APP};AppKey={CANARY[:6]};{CANARY[6:]}='q",
    f"{SECRET_APP};AppKey={CANARY[:6]};TenantId={CANARY[6:]}",
    f"{SECRET_APP};AppKey={CANARY[:6]};RunAs={CANARY[6:]}",
    f"{SECRET_APP};AppKey={CANARY}\x01",
    f"{SECRET_APP};AppKey={CANARY};Bogus=1",
    f"{SECRET_APP};AppKey={CANARY};MsiRetryTimeout=x",
    f"RunAs=App;AppKey={CANARY};TenantId=t",
    f"RunAs=Developer;DeveloperTool=AzureCli;AppKey={CANARY}",
    f"RunAs=Developer;DeveloperTool={CANARY};AppKey={CANARY}",
    f"AppKey={CANARY};RunAs=Nope",
    f"AppKey={CANARY}",
    f"RunAs=App;AppId=a;AppKey={CANARY}",
    f"RunAs=App;AppId=a;TenantId=t;AppKey={CANARY};AppKey={CANARY}",
    f"{SECRET_APP};AppKey{CANARY}",
    f"{SECRET_APP};AppKey;{CANARY};x=1",
    f"{SECRET_APP};XAppKey{CANARY}=1",
    f"{SECRET_APP};AppKey={CANARY};AppKey{CANARY}=1",
    f"{SECRET_APP};AppKey==={CANARY}",
    f'"{SECRET_APP};AppKey={CANARY}"',
]


@pytest.mark.parametrize("text", CANARY_ERRORS)
def test_errors_never_show_the_secret(text: str) -> None:
    error = error_of(text)
    assert_no_secret(str(error))
    assert_no_secret(repr(error))
    assert_no_secret(str(error.key))


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (f"{SECRET_APP};AppKey={CANARY}", f"{SECRET_APP};AppKey={REDACTED}"),
        (f"{SECRET_APP}; appkey = '{CANARY};x' ; ", f"{SECRET_APP}; appkey = {REDACTED} ; "),
        (f'AppKey="{CANARY}""";{SECRET_APP}', f"AppKey={REDACTED};{SECRET_APP}"),
        ("RunAs=App", "RunAs=App"),
    ],
)
def test_redacted_is_the_text_without_the_secret(text: str, redacted: str) -> None:
    parsed = parse_connection_string(text)
    assert parsed.redacted == redacted
    assert_no_secret(repr(parsed))
    assert_no_secret(str(parsed))
    assert "app_key" not in repr(parsed)


def test_direct_settings_redact_and_hide_the_secret() -> None:
    direct = ConnectionSettings(run_as="App", app_id="a", tenant_id="t", app_key=CANARY)
    assert direct.redacted == f"RunAs=App;AppId=a;TenantId=t;AppKey={REDACTED}"
    assert_no_secret(repr(direct))
    assert direct.to_connection_string() == f"RunAs=App;AppId=a;TenantId=t;AppKey={CANARY}"
    assert parse_connection_string(direct.to_connection_string()) == direct


# --- building settings directly -----------------------------------------------------------------------------


def test_direct_settings_are_normalised() -> None:
    direct = ConnectionSettings(run_as="developer", developer_tool="azurecli")
    assert (direct.run_as, direct.developer_tool, direct.source) == ("Developer", "AzureCli", "azure_cli")


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"run_as": "Nope"}, "RunAs"),
        ({"run_as": "App", "msi_retry_timeout": -1}, "MsiRetryTimeout"),
        ({"run_as": "App", "app_key": "k"}, "AppKey"),
        ({"run_as": "App", "app_id": "a", "app_key": "k"}, "TenantId"),
        ({"run_as": "App", "app_id": "a\x00"}, "AppId"),
        ({"run_as": "Developer"}, "DeveloperTool"),
    ],
)
def test_direct_settings_are_validated(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConnectionStringError) as caught:
        ConnectionSettings(**kwargs)  # type: ignore[arg-type]
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", "plain"),
        ("has space", '"has space"'),
        ("a;b", '"a;b"'),
        ("a=b", '"a=b"'),
        ("it's", '"it\'s"'),
        ('say "hi"', "'say \"hi\"'"),
        ("both ' and \"", '"both \' and """'),
        (" lead", '" lead"'),
        ("\x01", '"\x01"'),
    ],
)
def test_values_are_quoted_like_dotnet(value: str, written: str) -> None:
    settings_ = ConnectionSettings(run_as="App", app_id=value)
    assert settings_.to_connection_string() == f"RunAs=App;AppId={written}"
    assert parse_connection_string(settings_.to_connection_string()).app_id == value


# --- properties ---------------------------------------------------------------------------------------------

value_text = st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=16).filter(str.strip)
optional_value = st.none() | value_text
timeouts = st.none() | st.integers(0, 2**31 - 1)
instances = st.none() | st.sampled_from(
    ["https://login.microsoftonline.com/", "https://login.microsoftonline.us/", "https://login.partner.cn/path/"]
)
stores = st.sampled_from(["CurrentUser", "LocalMachine"])


@st.composite
def valid_settings(draw: st.DrawFn) -> ConnectionSettings:
    source = draw(st.sampled_from(SOURCES))
    if source in ("azure_cli", "visual_studio"):
        tool = "AzureCli" if source == "azure_cli" else "VisualStudio"
        return ConnectionSettings(run_as="Developer", developer_tool=tool)
    if source == "current_user":
        return ConnectionSettings(run_as="CurrentUser", azure_ad_instance=draw(instances))
    if source == "managed_identity":
        return ConnectionSettings(run_as="App", app_id=draw(optional_value), msi_retry_timeout=draw(timeouts))
    app_id, instance = draw(value_text), draw(instances)
    if source == "client_secret":
        return ConnectionSettings(
            run_as="App",
            app_id=app_id,
            tenant_id=draw(value_text),
            app_key=draw(value_text),
            azure_ad_instance=instance,
        )
    if source == "certificate":
        thumbprint, subject = draw(st.sampled_from([(draw(value_text), None), (None, draw(value_text))]))
        return ConnectionSettings(
            run_as="App",
            app_id=app_id,
            tenant_id=draw(value_text),
            certificate_thumbprint=thumbprint,
            certificate_subject_name=subject,
            certificate_store_location=draw(stores),
            azure_ad_instance=instance,
        )
    return ConnectionSettings(
        run_as="App",
        app_id=app_id,
        tenant_id=draw(optional_value),
        key_vault_certificate_secret_identifier=draw(value_text),
        key_vault_user_assigned_managed_identity_id=draw(optional_value),
        msi_retry_timeout=draw(timeouts),
        azure_ad_instance=instance,
    )


def noisy(settings_: ConnectionSettings, data: st.DataObject) -> str:
    """The same settings written the way people do: keys in any case, spaces, every value double-quoted,
    keys in any order, stray semicolons."""
    parts = []
    for pair in _tokenize(settings_.to_connection_string()):
        key, value = pair.key, pair.value
        key = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in key)
        quoted = '"' + value.replace('"', '""') + '"'
        separator = data.draw(st.sampled_from(["=", " = "]))
        parts.append(data.draw(st.sampled_from(["", " ", ";"])) + key + separator + quoted)
    order = data.draw(st.permutations(parts))
    return ";".join(order) + data.draw(st.sampled_from(["", ";", " ; "]))


@settings(max_examples=200)
@given(valid_settings())
def test_round_trip(original: ConnectionSettings) -> None:
    text = original.to_connection_string()
    parsed = parse_connection_string(text)
    assert parsed == original
    assert parsed.source == original.source
    assert parsed.to_connection_string() == text


@settings(max_examples=200)
@given(valid_settings(), st.data())
def test_round_trip_through_noisy_text(original: ConnectionSettings, data: st.DataObject) -> None:
    assert parse_connection_string(noisy(original, data)) == original


TOKENS = [*VALID_KEYS, "App", "Developer", "AzureCli", "=", "==", ";", " ", "'", '"', "''", "\x00", "\x01", "x"]
soup = st.lists(st.sampled_from(TOKENS) | st.text(max_size=3), max_size=12).map("".join)


@settings(max_examples=200)
@given(st.text(max_size=60) | soup)
def test_any_text_parses_or_raises_connection_string_error(text: str) -> None:
    error: ConnectionStringError | None = None
    try:
        parsed = parse_connection_string(text)
    except ConnectionStringError as caught:  # anything else fails the test
        error = caught
    if error is not None:
        assert str(error).startswith("Invalid connection string: ")
        assert error.key is None or error.key in VALID_KEYS or error.key in text
    else:
        assert parse_connection_string(parsed.to_connection_string()) == parsed
        assert parse_connection_string(parsed.redacted).run_as == parsed.run_as


BASES = [
    f"{SECRET_APP};AppKey={CANARY}",
    f"{SECRET_APP};AppKey='{CANARY}'",
    f'{SECRET_APP};AppKey="{CANARY[:6]};{CANARY[6:]}"',
    f"AppKey={CANARY};{SECRET_APP}",
    f"RunAs=App;AppKey = '{CANARY[:6]}''{CANARY[6:]}' ;AppId=a;TenantId=t",
]
mutation = st.tuples(
    st.sampled_from(["insert", "delete", "replace"]),
    st.integers(0, 200),
    st.sampled_from(list(";='\" \x01\x00aK")),
)


@settings(max_examples=200)
@given(st.sampled_from(BASES), st.lists(mutation, min_size=1, max_size=4))
def test_secret_never_leaks_from_mutated_text(base: str, mutations: list[tuple[str, int, str]]) -> None:
    text = base
    for operation, at, char in mutations:
        at %= len(text) + 1
        if operation == "insert":
            text = text[:at] + char + text[at:]
        elif operation == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    appkey = re.search("appkey", text, re.IGNORECASE)
    assume(appkey is not None)
    assert appkey is not None
    # Only text after an AppKey is secret; a mutation can move pieces of the canary in front of it.
    secret_tail = text[appkey.start() :]
    try:
        parsed = parse_connection_string(text)
    except ConnectionStringError as error:
        shown = f"{error} {error!r} {error.key}"
        for fragment in fragments(CANARY):
            if fragment in secret_tail and fragment not in text[: appkey.start()]:
                assert fragment not in shown
    else:
        assert "app_key" not in repr(parsed)
        if parsed.app_key is not None and CANARY in parsed.app_key:
            assert_no_secret(repr(parsed))
            assert_no_secret(parsed.redacted)
            assert parse_connection_string(parsed.redacted).app_key == REDACTED
