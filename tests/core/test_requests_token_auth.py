"""``RequestsTokenAuth`` through real ``requests`` against real loopback HTTPS APIs that check the emulator's
tokens: the header from the process-wide cache, the 401 retry and the claims challenge (with the claims reaching
the emulated Entra ID through msal), bodies that can and cannot be sent again, and the token staying on its host
through requests' own redirect handling."""

# ruff: noqa: F811 - the tests take the fixtures imported from outbound_support as arguments

from __future__ import annotations

import io
import logging
import threading

import pytest
import requests

from appauth_core import AzureServiceTokenProvider, ConfigError, RequestsTokenAuth, TokenEndpointError
from appauth_core.calls import _default_provider

from .outbound_support import (  # and the fixtures api, emulator, provider, resource, server
    ApiServer,
    api,  # noqa: F401
    chunks,
    emulator,  # noqa: F401
    ok,
    provider,  # noqa: F401
    redirect_to,
    resource,  # noqa: F401
    server,  # noqa: F401
    tokens,
)

# --- the header, from the cache -------------------------------------------------------------------------------


def test_every_request_carries_the_cached_token_and_only_the_first_reaches_entra(emulator, resource, provider, server):
    auth = RequestsTokenAuth(resource, provider, base_url=server.url)
    with requests.Session() as session:
        session.auth = auth
        replies = [session.get(server.url + f"orders/{n}") for n in range(20)]
    assert [reply.status_code for reply in replies] == [200] * 20
    assert replies[0].json()["appid"] == emulator.app.app_id  # the API checked signature and audience
    assert tokens(emulator) == 1
    assert {seen.token for seen in server.seen} == {provider.get_access_token(resource)}


def test_a_token_already_cached_by_the_provider_is_used_without_a_request(emulator, resource, provider, server):
    provider.get_access_token(resource)
    assert tokens(emulator) == 1
    reply = requests.get(server.url, auth=RequestsTokenAuth(resource, provider))
    assert reply.status_code == 200
    assert tokens(emulator) == 1


def test_without_a_provider_the_process_wide_default_one_is_made_once(emulator, resource, server, monkeypatch):
    monkeypatch.setattr(_default_provider, "_provider", None)  # this test's environment: the emulator's identity
    auth = RequestsTokenAuth(resource)
    assert _default_provider._provider is None  # nothing made before the first request
    for _ in range(3):
        assert requests.get(server.url, auth=auth).status_code == 200
    made = _default_provider._provider
    assert made is not None
    assert RequestsTokenAuth(resource)._tokens.provider is made
    assert emulator.counters["mi.app_service"] == 1  # the App Service managed identity, asked once


# --- 401: one refresh, one retry --------------------------------------------------------------------------------


def test_a_401_to_a_cached_token_forces_one_refresh_and_one_retry(emulator, resource, provider, api, server):
    refused = provider.get_access_token(resource)
    api.revoked.add(refused)
    reply = requests.get(server.url + "orders/1", auth=RequestsTokenAuth(resource, provider))
    assert reply.status_code == 200
    assert [earlier.status_code for earlier in reply.history] == [401]
    assert [seen.token == refused for seen in server.seen] == [True, False]
    assert tokens(emulator) == 2
    assert provider.get_access_token(resource) == server.seen[1].token  # the new token replaced it in the cache
    assert tokens(emulator) == 2


def test_a_401_that_persists_is_retried_once_and_returned(emulator, resource, provider, server):
    server.respond = lambda seen: (401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"")
    provider.get_access_token(resource)
    reply = requests.get(server.url, auth=RequestsTokenAuth(resource, provider))
    assert reply.status_code == 401
    assert len(server.seen) == 2
    assert tokens(emulator) == 2  # the first token, and one refresh


def test_a_401_to_a_token_fetched_for_this_very_request_is_not_retried(emulator, resource, provider, server):
    server.respond = lambda seen: (401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"")
    reply = requests.get(server.url, auth=RequestsTokenAuth(resource, provider))
    assert reply.status_code == 401
    assert len(server.seen) == 1
    assert tokens(emulator) == 1


def test_concurrent_401s_to_one_cached_token_cost_one_refresh(emulator, resource, provider, api, server):
    api.revoked.add(provider.get_access_token(resource))
    auth = RequestsTokenAuth(resource, provider)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def call() -> None:
        barrier.wait()
        statuses.append(requests.get(server.url, auth=auth, timeout=30).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 8
    assert tokens(emulator) == 2  # the first token and one renewal, however many requests were refused at once


def test_a_token_failure_during_the_renewal_is_the_providers_error(emulator, resource, provider, api, server):
    api.revoked.add(provider.get_access_token(resource))
    emulator.faults.inject("entra.token", status=400, body={"error": "invalid_client", "error_codes": [7000215]})
    with pytest.raises(TokenEndpointError, match="AppKey") as raised:
        requests.get(server.url, auth=RequestsTokenAuth(resource, provider))
    assert raised.value.error_codes == (7000215,)
    assert len(server.seen) == 1  # nothing sent without a new token


# --- claims challenges ------------------------------------------------------------------------------------------


def test_a_claims_challenge_gets_a_token_with_those_claims_and_one_retry(emulator, resource, provider, api, server):
    api.required_context = "c1"
    auth = RequestsTokenAuth(resource, provider)
    reply = requests.get(server.url, auth=auth)
    assert reply.status_code == 200
    assert reply.json()["acrs"] == ["c1"]  # Entra put the context the claims asked for in the new token
    assert [earlier.status_code for earlier in reply.history] == [401]
    assert tokens(emulator) == 2  # retried although the refused token was fetched for this very request
    assert requests.get(server.url, auth=auth).status_code == 200  # the claims token is the cached one now
    assert tokens(emulator) == 2
    assert api.challenges == 1


def test_a_claims_challenge_repeated_after_the_retry_is_returned(emulator, resource, provider, server):
    from .outbound_support import CLAIMS_CHALLENGE

    server.respond = lambda seen: (401, {"WWW-Authenticate": CLAIMS_CHALLENGE}, b"")
    reply = requests.get(server.url, auth=RequestsTokenAuth(resource, provider))
    assert reply.status_code == 401
    assert len(server.seen) == 2
    assert tokens(emulator) == 2


def test_a_claims_challenge_after_another_challenge_in_the_same_header_is_found(emulator, resource, provider, api):
    from .outbound_support import CLAIMS_CHALLENGE

    api.required_context = "c1"

    def two_challenges(seen):
        status, headers, body = api(seen)
        if status == 401:
            headers = {"WWW-Authenticate": f'Basic realm="a, b", {CLAIMS_CHALLENGE}'}
        return status, headers, body

    with ApiServer(two_challenges, tls=emulator.tls.server_context()) as server:
        reply = requests.get(server.url, auth=RequestsTokenAuth(resource, provider))
    assert reply.status_code == 200
    assert reply.json()["acrs"] == ["c1"]


def test_the_provider_sends_a_challenges_claims_to_entra_where_msal_signs_in(emulator, resource, provider):
    import asyncio

    import jwt

    from .outbound_support import CLAIMS

    def acrs(token: str) -> list[str]:
        return jwt.decode(token, options={"verify_signature": False}).get("acrs", [])

    scope = resource + "/.default"
    plain = provider.get_token(scope).token
    assert acrs(plain) == []
    with_claims = provider.get_token(scope, claims=CLAIMS).token
    assert acrs(with_claims) == ["c1"]  # msal passed the claims on as the token request's claims parameter
    assert provider.get_access_token(resource) == with_claims  # and the new token is the cached one
    info = provider.get_token_info(scope, options={"claims": CLAIMS})
    assert acrs(info.token) == ["c1"] and info.token != with_claims
    aio = asyncio.run(provider.aio.get_token_info(scope, options={"claims": CLAIMS}))
    assert acrs(aio.token) == ["c1"]
    assert tokens(emulator) == 4

    managed = AzureServiceTokenProvider("RunAs=App")  # App Service: its endpoint takes no claims
    first = managed.get_token(scope).token
    renewed = managed.get_token(scope, claims=CLAIMS).token
    assert renewed != first and acrs(renewed) == []  # a new token, without the claims it cannot ask for
    assert emulator.counters["mi.app_service"] == 2


# --- bodies -----------------------------------------------------------------------------------------------------


def test_bytes_and_form_bodies_are_sent_again_with_the_new_token(emulator, resource, provider, api, server):
    auth = RequestsTokenAuth(resource, provider)
    api.revoked.add(provider.get_access_token(resource))
    assert requests.post(server.url, data=b"payload", auth=auth).json()["body"] == "payload"
    api.revoked.add(server.seen[-1].token)
    assert requests.post(server.url, json={"n": 1}, auth=auth).json()["body"] == '{"n": 1}'
    assert [seen.body for seen in server.seen] == [b"payload", b"payload", b'{"n": 1}', b'{"n": 1}']


def test_a_file_body_is_rewound_and_sent_again(emulator, resource, provider, api, server):
    api.revoked.add(provider.get_access_token(resource))
    upload = io.BytesIO(b"skip:the file's content")
    upload.read(5)  # requests sends a file from where it stands
    reply = requests.put(server.url, data=upload, auth=RequestsTokenAuth(resource, provider))
    assert reply.status_code == 200
    assert [seen.body for seen in server.seen] == [b"the file's content", b"the file's content"]


def test_a_generator_body_is_not_retried(emulator, resource, provider, api, server, caplog):
    api.revoked.add(provider.get_access_token(resource))
    with caplog.at_level(logging.WARNING, logger="appauth_core"):
        reply = requests.post(server.url, data=chunks(b"once ", b"only"), auth=RequestsTokenAuth(resource, provider))
    assert reply.status_code == 401
    assert [seen.body for seen in server.seen] == [b"once only"]
    assert tokens(emulator) == 1  # no token asked for a retry that cannot happen
    assert "cannot be sent again" in caplog.text


# --- the token stays on its host ----------------------------------------------------------------------------


def test_a_redirect_to_another_host_carries_no_token(emulator, resource, provider, api):
    tls = emulator.tls.server_context()
    with ApiServer(ok, tls=tls, host="localhost") as elsewhere, ApiServer(api, tls=tls) as origin:
        origin.respond = redirect_to(elsewhere.url + "landing")
        for follow in (requests.get, requests.Session().get):
            reply = follow(origin.url + "start", auth=RequestsTokenAuth(resource, provider))
            assert reply.status_code == 200
            assert reply.url == elsewhere.url + "landing"
    assert [seen.token is not None for seen in origin.seen] == [True, True]
    assert [seen.authorization for seen in elsewhere.seen] == [None, None]


def test_a_redirect_to_another_port_of_the_same_host_carries_no_token(emulator, resource, provider, api):
    tls = emulator.tls.server_context()
    with ApiServer(ok, tls=tls) as other_port, ApiServer(redirect_to(other_port.url), tls=tls) as origin:
        assert requests.get(origin.url, auth=RequestsTokenAuth(resource, provider)).status_code == 200
    assert origin.seen[0].token is not None
    assert other_port.seen[0].authorization is None


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_within_the_origin_keeps_the_token(emulator, resource, provider, api, server, status):
    original = server.respond
    server.respond = lambda seen: redirect_to("/moved", status)(seen) if seen.path == "/start" else original(seen)
    reply = requests.post(server.url + "start", data=b"x", auth=RequestsTokenAuth(resource, provider))
    assert reply.status_code == 200
    assert [seen.path for seen in server.seen] == ["/start", "/moved"]
    assert all(seen.token for seen in server.seen)


def test_a_401_from_the_host_redirected_to_is_not_retried_there(emulator, resource, provider, api):
    refusing = lambda seen: (401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"")  # noqa: E731
    tls = emulator.tls.server_context()
    with ApiServer(refusing, tls=tls, host="localhost") as elsewhere, ApiServer(api, tls=tls) as origin:
        origin.respond = redirect_to(elsewhere.url)
        provider.get_access_token(resource)
        reply = requests.get(origin.url, auth=RequestsTokenAuth(resource, provider))
    assert reply.status_code == 401
    assert len(elsewhere.seen) == 1 and elsewhere.seen[0].authorization is None
    assert len(origin.seen) == 1
    assert tokens(emulator) == 1  # a refusal of a request without our token renews nothing


def test_a_request_outside_the_base_urls_carries_no_token(emulator, resource, provider, api, caplog):
    tls = emulator.tls.server_context()
    with ApiServer(api, tls=tls) as orders, ApiServer(ok, tls=tls, host="localhost") as other:
        auth = RequestsTokenAuth(resource, provider, base_url=[orders.url + "api/", "https://orders.example.com"])
        with caplog.at_level(logging.WARNING, logger="appauth_core"):
            assert requests.get(orders.url + "api/x", auth=auth).status_code == 200
            assert requests.get(other.url + "api/x", auth=auth).status_code == 200
            assert requests.get(other.url + "again", auth=auth).status_code == 200
            assert requests.get(orders.url + "outside/the/path", auth=auth).status_code == 200  # same origin
    assert [seen.authorization for seen in other.seen] == [None, None]
    assert all(seen.token for seen in orders.seen)
    assert caplog.text.count("No token for") == 1  # said once per origin, not per request
    assert tokens(emulator) == 1


def test_plain_http_gets_the_token_on_loopback_only(emulator, resource, provider, api):
    with ApiServer(api) as plain:
        assert requests.get(plain.url, auth=RequestsTokenAuth(resource, provider)).status_code == 200
    assert plain.seen[0].token is not None
    hosts = RequestsTokenAuth(resource, provider)._tokens.hosts
    assert hosts.allows_url("http://127.0.0.1:8080/") and hosts.allows_url("http://[::1]/x")
    assert hosts.allows_url("http://localhost:5000/x")
    assert not hosts.allows_url("http://orders.example.com/x")
    assert not hosts.allows_url("http://10.0.0.4/x")
    assert not hosts.allows_url("https://user:password@orders.example.com/")
    assert not hosts.allows_url("ftp://orders.example.com/")


def test_a_url_with_a_password_gets_no_token_and_no_log_shows_it(emulator, resource, provider, server, caplog):
    url = server.url.replace("https://", "https://someone:pw-in-url@")
    with caplog.at_level(logging.WARNING, logger="appauth_core"):
        assert requests.get(url, auth=RequestsTokenAuth(resource, provider)).status_code == 401
    assert server.seen[0].authorization is None
    assert "No token for" in caplog.text and server.origin in caplog.text
    assert "pw-in-url" not in caplog.text and "someone" not in caplog.text


def test_origins_are_compared_as_scheme_host_and_port():
    hosts = RequestsTokenAuth("api://orders", base_url="https://Orders.Example.com:443/api")._tokens.hosts
    assert hosts.allows_url("https://orders.example.com/any/path?q=1")
    assert hosts.allows_url("https://orders.example.com:443/")
    assert not hosts.allows_url("https://orders.example.com:8443/")
    assert not hosts.allows_url("https://orders.example.com.evil.example/")
    assert not hosts.allows_url("https://evil.example/?https://orders.example.com/")
    assert not hosts.allows_url("http://orders.example.com/")
    unicode = RequestsTokenAuth("api://orders", base_url="https://bücher.example/")._tokens.hosts
    assert unicode.allows_url(requests.Request("GET", "https://bücher.example/x").prepare().url or "")


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("http://orders.example.com/", "https only"),
        ("https://user:pw@orders.example.com/", "user name or password"),
        ("https://orders.example.com/?x=1", "query"),
        ("orders.example.com", "absolute"),
        ("https://orders.example.com:99999/", "port"),
        ("", "required"),
    ],
)
def test_a_base_url_a_token_must_not_go_to_is_refused_up_front(base_url, problem):
    with pytest.raises(ConfigError, match=problem) as raised:
        RequestsTokenAuth("api://orders", base_url=base_url)
    assert raised.value.setting == "RequestsTokenAuth(base_url=...)"


@pytest.mark.parametrize("resource", ["", "  ", "api://orders?x", None, 42])
def test_a_resource_no_token_can_be_had_for_is_refused_up_front(resource):
    with pytest.raises(ConfigError, match="resource"):
        RequestsTokenAuth(resource)  # type: ignore[arg-type]


def test_a_provider_of_another_kind_is_refused_up_front():
    with pytest.raises(ConfigError, match="AzureServiceTokenProvider"):
        RequestsTokenAuth("api://orders", provider=object())  # type: ignore[arg-type]


# --- no token where it could be shown -----------------------------------------------------------------------


def test_the_token_is_in_no_repr_and_no_log_line(emulator, resource, provider, api, server, caplog):
    api.revoked.add(provider.get_access_token(resource))
    auth = RequestsTokenAuth(resource, provider, base_url=server.url)
    with caplog.at_level(logging.DEBUG):
        reply = requests.get(server.url, auth=auth)
    assert reply.status_code == 200
    shown = repr(auth) + repr(auth._tokens) + repr(auth._tokens.cached()) + caplog.text
    for seen in server.seen:
        assert seen.token and seen.token not in shown
        assert seen.token[-40:] not in shown
    assert "Retrying a request for" in caplog.text
