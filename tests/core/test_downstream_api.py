"""``DownstreamApi``: a real ``requests`` session bound to one API's base URL, against real loopback HTTPS APIs
checking the emulator's tokens: URL joining, the token for the base URL's origin only, default timeouts, pooled
connections shared per process (seen as the client port the server reports), a forked child on connections of
its own, no cookies kept, the async flavour, and no token left in the frames of a failed request."""

# ruff: noqa: F811 - the tests take the fixtures imported from outbound_support as arguments

from __future__ import annotations

import asyncio
import os
import threading
import time
import traceback

import pytest
import requests

from appauth_core import ConfigError, DownstreamApi
from appauth_core.calls import _default_provider

from .outbound_support import (  # and the fixtures api, emulator, provider, resource, server
    ApiServer,
    api,  # noqa: F401
    emulator,  # noqa: F401
    ok,
    provider,  # noqa: F401
    resource,  # noqa: F401
    server,  # noqa: F401
    tokens,
)
from .test_fork_safety import in_children


@pytest.fixture
def name() -> str:
    return f"orders-{time.monotonic_ns()}"  # a name of its own: the process-wide pools are per name


def test_relative_urls_are_joined_below_the_base_url_with_the_token(emulator, resource, provider, server, name):
    orders = DownstreamApi(name, server.url + "api/v1", resource, provider)
    assert orders.get("orders/1").status_code == 200
    assert orders.get("/orders/2").status_code == 200
    assert orders.post("orders", json={"n": 3}).status_code == 200
    assert orders.get("").status_code == 200
    assert [seen.path for seen in server.seen] == ["/api/v1/orders/1", "/api/v1/orders/2", "/api/v1/orders", "/api/v1/"]
    assert all(seen.token for seen in server.seen)
    assert tokens(emulator) == 1
    assert orders.url_for("https://elsewhere.example/x") == "https://elsewhere.example/x"


def test_an_absolute_url_to_another_origin_gets_no_token(emulator, resource, provider, server, name):
    with ApiServer(ok, tls=emulator.tls.server_context(), host="localhost") as other:
        orders = DownstreamApi(name, server.url, resource, provider)
        assert orders.get(other.url + "x").status_code == 200
        assert orders.get(server.url + "x").status_code == 200  # absolute, but its own origin
    assert other.seen[0].authorization is None
    assert server.seen[0].token is not None


def test_a_refused_cached_token_is_renewed_once(emulator, resource, provider, api, server, name):
    orders = DownstreamApi(name, server.url, resource, provider)
    api.revoked.add(provider.get_access_token(resource))
    reply = orders.get("x")
    assert reply.status_code == 200
    assert [earlier.status_code for earlier in reply.history] == [401]
    assert tokens(emulator) == 2


def test_every_request_gets_the_default_timeout_unless_it_passes_its_own(emulator, resource, provider, name):
    def slow(seen):
        time.sleep(1.0)
        return ok(seen)

    with ApiServer(slow, tls=emulator.tls.server_context()) as server:
        orders = DownstreamApi(name, server.url, resource, provider, timeout=0.2)
        with pytest.raises(requests.Timeout):
            orders.get("x")
        assert orders.get("x", timeout=10).status_code == 200
    assert DownstreamApi(name, server.url, resource, provider).timeout == (5.0, 30.0)


def test_pooled_connections_are_shared_by_every_session_of_one_name(emulator, resource, provider, server, name):
    first = DownstreamApi(name, server.url, resource, provider)
    second = DownstreamApi(name, server.url, resource, provider)
    other = DownstreamApi(name + "-other", server.url, resource, provider)
    assert first.get_adapter(server.url) is second.get_adapter(server.url)
    assert other.get_adapter(server.url) is not first.get_adapter(server.url)
    first.get("a")
    first.close()  # leaves the shared connections open
    second.get("b")
    other.get("c")
    ports = [seen.client_port for seen in server.seen]
    assert ports[0] == ports[1]  # the second session reused the first one's kept-alive connection
    assert ports[2] != ports[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_opens_connections_of_its_own_and_keeps_the_token(emulator, resource, provider, server, name):
    orders = DownstreamApi(name, server.url, resource, provider)
    assert orders.get("parent").status_code == 200

    def child(index: int) -> int:
        return orders.get(f"child-{index}").status_code

    assert in_children(child, children=2) == [200, 200]
    assert orders.get("parent-again").status_code == 200
    by_path = {seen.path: seen.client_port for seen in server.seen}
    assert by_path["/parent-again"] == by_path["/parent"]  # the parent's connection survived its children
    assert by_path["/child-0"] != by_path["/parent"] and by_path["/child-1"] != by_path["/parent"]
    assert tokens(emulator) == 1  # the children used the token cached before the fork


def test_no_cookie_an_api_sets_is_kept_but_a_requests_own_are_sent(emulator, resource, provider, api, name):
    def with_cookie(seen):
        status, headers, body = api(seen)
        return status, {**headers, "Set-Cookie": "session=first-caller; Path=/"}, body

    with ApiServer(with_cookie, tls=emulator.tls.server_context()) as server:
        orders = DownstreamApi(name, server.url, resource, provider)
        orders.get("a")
        orders.get("b")
        orders.get("c", cookies={"mine": "1"})
    assert [seen.headers.get("Cookie") for seen in server.seen] == [None, None, "mine=1"]
    assert len(orders.cookies) == 0


def test_without_a_provider_the_process_wide_default_is_used(emulator, resource, server, name, monkeypatch):
    monkeypatch.setattr(_default_provider, "_provider", None)
    orders = DownstreamApi(name, server.url, resource)
    assert [orders.get("x").status_code for _ in range(3)] == [200] * 3
    assert emulator.counters["mi.app_service"] == 1


def test_the_async_flavour_is_an_httpx_client_on_the_same_base_url_and_token(
    emulator, resource, provider, server, name
):
    orders = DownstreamApi(name, server.url + "api", resource, provider, timeout=(3, 7))

    async def go() -> list[int]:
        async with orders.async_client() as client:
            assert client.timeout.connect == 3 and client.timeout.read == 7
            return [(await client.get("orders/1")).status_code, (await client.get("/orders/2")).status_code]

    assert asyncio.run(go()) == [200, 200]
    assert [seen.path for seen in server.seen] == ["/api/orders/1", "/api/orders/2"]
    assert all(seen.token for seen in server.seen)
    assert tokens(emulator) == 1


def test_no_frame_of_a_failed_request_holds_the_token(emulator, resource, provider, name):
    with ApiServer(lambda seen: None, tls=emulator.tls.server_context()) as hanging_up:
        orders = DownstreamApi(name, hanging_up.url, resource, provider)
        with pytest.raises(requests.ConnectionError) as raised:
            orders.get("x")
    shown = []  # what an error tracker would show: every local of every frame, chained exceptions' included
    error: BaseException | None = raised.value
    while error is not None:
        for frame, _ in traceback.walk_tb(error.__traceback__):
            if frame.f_code is not test_no_frame_of_a_failed_request_holds_the_token.__code__:
                shown.extend(repr(value) for value in list(frame.f_locals.values()))
        error = error.__context__
    token = hanging_up.seen[0].token
    assert token
    assert not any(token[-40:] in text for text in shown)


def test_the_token_is_in_no_repr(emulator, resource, provider, server, name):
    orders = DownstreamApi(name, server.url, resource, provider)
    orders.get("x")
    assert repr(orders) == f"DownstreamApi({name!r}, base_url={server.url!r}, resource={resource!r})"
    token = server.seen[0].token or ""
    assert token[-40:] not in repr(orders) + repr(orders.auth) + repr(vars(orders))


def test_sessions_used_from_many_threads_share_one_token(emulator, resource, provider, server, name):
    orders = DownstreamApi(name, server.url, resource, provider)
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(orders.get("x").status_code)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 8
    assert tokens(emulator) == 1


@pytest.mark.parametrize(
    ("arguments", "options", "setting"),
    [
        (("", "https://orders.example.com/", "api://orders"), {}, "name"),
        (("orders", "http://orders.example.com/", "api://orders"), {}, "DownstreamApi(base_url=...)"),
        (("orders", "https://orders.example.com/?v=1", "api://orders"), {}, "DownstreamApi(base_url=...)"),
        (("orders", "https://orders.example.com/", ""), {}, "RequestsTokenAuth(resource=...)"),
        (("orders", "https://orders.example.com/", "api://orders"), {"timeout": None}, "timeout"),
        (("orders", "https://orders.example.com/", "api://orders"), {"timeout": (5, -1)}, "timeout"),
        (("orders", "https://orders.example.com/", "api://orders"), {"timeout": "30"}, "timeout"),
    ],
)
def test_bad_arguments_are_config_errors_naming_them(arguments, options, setting):
    with pytest.raises(ConfigError) as raised:
        DownstreamApi(*arguments, **options)
    assert raised.value.setting == setting
