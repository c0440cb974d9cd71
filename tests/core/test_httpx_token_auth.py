"""``HttpxTokenAuth`` through real ``httpx.Client`` and ``httpx.AsyncClient`` (every scenario runs on both)
against real loopback HTTPS APIs that check the emulator's tokens: the header from the process-wide cache, the
401 retry, the claims challenge, bodies, the token staying on its host through httpx's own redirect handling,
and token fetches kept off the event loop."""

# ruff: noqa: F811 - the tests take the fixtures imported from outbound_support as arguments

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from appauth_core import AzureServiceTokenProvider, HttpxTokenAuth

from .outbound_support import (  # and the fixtures api, emulator, provider, resource, server
    CLAIMS_CHALLENGE,
    ApiServer,
    api,  # noqa: F401
    emulator,  # noqa: F401
    ok,
    provider,  # noqa: F401
    redirect_to,
    resource,  # noqa: F401
    server,  # noqa: F401
    tokens,
)

Send = Callable[..., httpx.Response]


@pytest.fixture(params=["Client", "AsyncClient"])
def send(request: pytest.FixtureRequest) -> Send:
    """``send(auth, method, url, **options)``: one request through a new ``httpx.Client`` or ``AsyncClient``
    (following redirects) on the same auth; ``send.many(auth, n, url)`` sends n at once."""
    if request.param == "Client":

        def one(auth: httpx.Auth, method: str, url: str, **options: Any) -> httpx.Response:
            with httpx.Client(auth=auth, follow_redirects=True) as client:
                return client.request(method, url, **options)

        def many(auth: httpx.Auth, count: int, url: str) -> list[httpx.Response]:
            with httpx.Client(auth=auth) as client:
                barrier, replies = threading.Barrier(count), []

                def call() -> None:
                    barrier.wait()
                    replies.append(client.get(url))

                threads = [threading.Thread(target=call) for _ in range(count)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(60)
                return replies

    else:

        def one(auth: httpx.Auth, method: str, url: str, **options: Any) -> httpx.Response:
            async def go() -> httpx.Response:
                async with httpx.AsyncClient(auth=auth, follow_redirects=True) as client:
                    return await client.request(method, url, **options)

            return asyncio.run(go())

        def many(auth: httpx.Auth, count: int, url: str) -> list[httpx.Response]:
            async def go() -> list[httpx.Response]:
                async with httpx.AsyncClient(auth=auth) as client:
                    return list(await asyncio.gather(*(client.get(url) for _ in range(count))))

            return asyncio.run(go())

    one.many = many  # type: ignore[attr-defined]
    one.kind = request.param  # type: ignore[attr-defined]
    return one


def test_every_request_carries_the_cached_token_and_only_the_first_reaches_entra(
    emulator, resource, provider, server, send
):
    auth = HttpxTokenAuth(resource, provider, base_url=server.url)
    replies = [send(auth, "GET", server.url + f"orders/{n}") for n in range(10)]
    assert [reply.status_code for reply in replies] == [200] * 10
    assert replies[0].json()["appid"] == emulator.app.app_id
    assert tokens(emulator) == 1
    assert {seen.token for seen in server.seen} == {provider.get_access_token(resource)}


def test_a_401_to_a_cached_token_forces_one_refresh_and_one_retry(emulator, resource, provider, api, server, send):
    refused = provider.get_access_token(resource)
    api.revoked.add(refused)
    reply = send(HttpxTokenAuth(resource, provider), "GET", server.url)
    assert reply.status_code == 200
    assert [earlier.status_code for earlier in reply.history] == [401]
    assert [seen.token == refused for seen in server.seen] == [True, False]
    assert tokens(emulator) == 2
    assert provider.get_access_token(resource) == server.seen[1].token


def test_a_401_that_persists_is_retried_once_and_returned(emulator, resource, provider, server, send):
    server.respond = lambda seen: (401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"")
    provider.get_access_token(resource)
    assert send(HttpxTokenAuth(resource, provider), "GET", server.url).status_code == 401
    assert len(server.seen) == 2
    assert tokens(emulator) == 2


def test_a_401_to_a_token_fetched_for_this_very_request_is_not_retried(emulator, resource, provider, server, send):
    server.respond = lambda seen: (401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"")
    assert send(HttpxTokenAuth(resource, provider), "GET", server.url).status_code == 401
    assert len(server.seen) == 1
    assert tokens(emulator) == 1


def test_concurrent_401s_to_one_cached_token_cost_one_refresh(emulator, resource, provider, api, server, send):
    api.revoked.add(provider.get_access_token(resource))
    replies = send.many(HttpxTokenAuth(resource, provider), 8, server.url)
    assert [reply.status_code for reply in replies] == [200] * 8
    assert tokens(emulator) == 2


def test_a_claims_challenge_gets_a_token_with_those_claims_and_one_retry(
    emulator, resource, provider, api, server, send
):
    api.required_context = "c1"
    auth = HttpxTokenAuth(resource, provider)
    reply = send(auth, "POST", server.url, content=b"order")
    assert reply.status_code == 200
    assert reply.json() == {"appid": emulator.app.app_id, "acrs": ["c1"], "body": "order"}
    assert tokens(emulator) == 2
    assert send(auth, "GET", server.url).status_code == 200
    assert tokens(emulator) == 2  # the token with the claims is the cached one now


def test_a_claims_challenge_repeated_after_the_retry_is_returned(emulator, resource, provider, server, send):
    server.respond = lambda seen: (401, {"WWW-Authenticate": CLAIMS_CHALLENGE}, b"")
    assert send(HttpxTokenAuth(resource, provider), "GET", server.url).status_code == 401
    assert len(server.seen) == 2
    assert tokens(emulator) == 2


def test_json_and_form_bodies_are_sent_again(emulator, resource, provider, api, server, send):
    auth = HttpxTokenAuth(resource, provider)
    api.revoked.add(provider.get_access_token(resource))
    assert send(auth, "POST", server.url, json={"n": 1}).status_code == 200
    api.revoked.add(server.seen[-1].token)
    assert send(auth, "POST", server.url, data={"a": "b"}).status_code == 200
    assert [seen.body for seen in server.seen] == [b'{"n":1}', b'{"n":1}', b"a=b", b"a=b"]


def test_a_streamed_body_is_not_retried(emulator, resource, provider, api, server, send, caplog):
    api.revoked.add(provider.get_access_token(resource))

    def parts():
        yield b"once "
        yield b"only"

    async def async_parts():
        for part in parts():
            yield part

    content = parts() if send.kind == "Client" else async_parts()
    with caplog.at_level(logging.WARNING, logger="appauth_core"):
        reply = send(HttpxTokenAuth(resource, provider), "POST", server.url, content=content)
    assert reply.status_code == 401
    assert [seen.body for seen in server.seen] == [b"once only"]
    assert tokens(emulator) == 1
    assert "cannot be sent again" in caplog.text


def test_a_multipart_upload_httpx_streams_is_not_retried(emulator, resource, provider, api, server, send):
    api.revoked.add(provider.get_access_token(resource))
    reply = send(HttpxTokenAuth(resource, provider), "POST", server.url, files={"f": ("a.txt", b"file body")})
    assert reply.status_code == 401  # httpx streams multipart bodies: sending one again is not ours to promise
    assert len(server.seen) == 1


def test_a_redirect_to_another_host_carries_no_token(emulator, resource, provider, api, send):
    tls = emulator.tls.server_context()
    with ApiServer(ok, tls=tls, host="localhost") as elsewhere, ApiServer(api, tls=tls) as origin:
        origin.respond = redirect_to(elsewhere.url + "landing")
        reply = send(HttpxTokenAuth(resource, provider), "GET", origin.url + "start")
    assert reply.status_code == 200
    assert str(reply.url) == elsewhere.url + "landing"
    assert origin.seen[0].token is not None
    assert [seen.authorization for seen in elsewhere.seen] == [None]


def test_a_redirect_to_another_port_carries_no_token_and_its_401_is_not_retried(
    emulator, resource, provider, api, send
):
    refusing = lambda seen: (401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"")  # noqa: E731
    tls = emulator.tls.server_context()
    with ApiServer(refusing, tls=tls) as other_port, ApiServer(api, tls=tls) as origin:
        origin.respond = redirect_to(other_port.url)
        provider.get_access_token(resource)
        reply = send(HttpxTokenAuth(resource, provider), "GET", origin.url)
    assert reply.status_code == 401
    assert [seen.authorization for seen in other_port.seen] == [None]
    assert len(origin.seen) == 1
    assert tokens(emulator) == 1


def test_a_redirect_within_the_origin_keeps_the_token(emulator, resource, provider, api, server, send):
    original = server.respond
    server.respond = lambda seen: redirect_to("/moved", 307)(seen) if seen.path == "/start" else original(seen)
    assert send(HttpxTokenAuth(resource, provider), "POST", server.url + "start", content=b"x").status_code == 200
    assert [seen.path for seen in server.seen] == ["/start", "/moved"]
    assert all(seen.token for seen in server.seen)


def test_a_request_outside_the_base_url_carries_no_token(emulator, resource, provider, api, send):
    tls = emulator.tls.server_context()
    with ApiServer(api, tls=tls) as orders, ApiServer(ok, tls=tls, host="localhost") as other:
        auth = HttpxTokenAuth(resource, provider, base_url=orders.url)
        assert send(auth, "GET", orders.url + "x").status_code == 200
        assert send(auth, "GET", other.url + "x").status_code == 200
    assert orders.seen[0].token is not None
    assert [seen.authorization for seen in other.seen] == [None]


def test_plain_http_to_loopback_gets_the_token(emulator, resource, provider, api, send):
    with ApiServer(api) as plain:
        assert send(HttpxTokenAuth(resource, provider), "GET", plain.url).status_code == 200
    assert plain.seen[0].token is not None


def test_origins_are_compared_as_httpx_gives_them():
    hosts = HttpxTokenAuth("api://orders", base_url="https://bücher.example:443/api")._tokens.hosts

    def allowed(url: str) -> bool:
        parsed = httpx.URL(url)
        return hosts.allows(parsed.scheme, parsed.raw_host, parsed.port)

    assert allowed("https://bücher.example/x") and allowed("https://xn--bcher-kva.example:443/")
    assert not allowed("https://bücher.example:8443/") and not allowed("http://bücher.example/")
    assert not allowed("https://xn--bcher-kva.example.evil.example/")


class RecordingProvider(AzureServiceTokenProvider):
    """The real provider, noting which thread each token request that may reach Entra ID runs on."""

    threads: list[threading.Thread]

    def get_access_token(self, *args: Any, **kwargs: Any) -> str:
        self.threads.append(threading.current_thread())
        return super().get_access_token(*args, **kwargs)


def test_the_async_client_fetches_and_renews_off_the_event_loop(emulator, resource, api, server):
    app = emulator.app
    provider = RecordingProvider(
        f"RunAs=App;AppId={app.app_id};TenantId={emulator.tenant_id};AppKey={app.secrets[0]}", emulator.authority
    )
    provider.threads = []
    auth = HttpxTokenAuth(resource, provider)
    loop_threads: list[threading.Thread] = []

    async def go() -> list[int]:
        loop_threads.append(threading.current_thread())
        async with httpx.AsyncClient(auth=auth) as client:
            first = await client.get(server.url)  # a miss: fetched
            api.revoked.add(server.seen[-1].token or "")
            second = await client.get(server.url)  # a 401: renewed
            third = await client.get(server.url)  # a hit: neither
            return [first.status_code, second.status_code, third.status_code]

    assert asyncio.run(go()) == [200, 200, 200]
    assert len(provider.threads) == 2  # the fetch and the forced refresh; the hits never call it
    assert all(thread is not loop_threads[0] for thread in provider.threads)
    with httpx.Client(auth=auth) as client:  # the sync client: in place, on the caller's thread
        api.revoked.add(server.seen[-1].token or "")
        assert client.get(server.url).status_code == 200
    assert provider.threads[-1] is threading.current_thread()


def test_the_token_is_in_no_repr_and_no_log_line(emulator, resource, provider, api, server, caplog, send):
    api.revoked.add(provider.get_access_token(resource))
    auth = HttpxTokenAuth(resource, provider, base_url=server.url)
    with caplog.at_level(logging.DEBUG):
        assert send(auth, "GET", server.url).status_code == 200
    shown = repr(auth) + repr(auth._tokens.cached()) + caplog.text
    for seen in server.seen:
        assert seen.token and seen.token[-40:] not in shown


def test_appauth_imports_without_httpx_and_says_what_to_install(tmp_path):
    import subprocess
    import sys

    blocker = tmp_path / "httpx.py"
    blocker.write_text("raise ModuleNotFoundError('No module named httpx', name='httpx')\n")
    code = (
        "import sys, appauth_core\n"
        "assert 'appauth_core.calls._httpx_auth' not in sys.modules\n"
        "try:\n"
        "    appauth_core.HttpxTokenAuth\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path)}, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'appauth[httpx]'" in result.stdout
