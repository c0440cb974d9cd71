"""http_sessions.new_session, the one way appauth builds a requests session: no redirect is followed, a
default timeout applies, a pinned session trusts only its certificate's thumbprint, and every session drops its
pooled connections in a forked child. The limits it mounts: tests/core/test_http_limits.py."""

from __future__ import annotations

import os
import socket

import pytest
import requests

from appauth_core._internal import http_limits
from appauth_core._internal.http_sessions import new_session
from appauth_core.testing import AzureEmulator
from tests.hardening.support import ForeignListener

from .test_fork_safety import in_children

MAX = http_limits.TOKEN_REPLY_MAX_BYTES


def _service_fabric_get(emulator: AzureEmulator, session: requests.Session) -> requests.Response:
    env = emulator.service_fabric_env()
    return session.get(
        env["IDENTITY_ENDPOINT"],
        params={"api-version": "2019-07-01-preview", "resource": "https://vault.azure.net"},
        headers={"Secret": env["IDENTITY_HEADER"]},
        timeout=(2, 5),
    )


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_answered_not_followed(status: int) -> None:
    with ForeignListener(status=status, redirect_to="http://127.0.0.1:9/elsewhere") as server:
        session = new_session(max_bytes=MAX)
        reply = session.post(server.url, data={"client_secret": "stays-here"}, timeout=5)
        session.close()
    assert reply.status_code == status
    assert reply.headers["Location"] == "http://127.0.0.1:9/elsewhere"
    assert len(server.requests) == 1  # nothing sent after the redirect


def test_a_request_without_a_timeout_of_its_own_gets_the_sessions() -> None:
    with socket.socket() as silent:  # connections complete in the backlog; nothing ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        session = new_session(max_bytes=MAX, timeout=0.5)
        with pytest.raises(requests.Timeout):
            session.get(f"http://127.0.0.1:{silent.getsockname()[1]}/")
        session.close()


def test_a_pinned_session_trusts_the_thumbprint_and_nothing_else(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    thumbprint = azure_emulator.tls.server_thumbprint_sha1.lower()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")  # read by nothing: the pin replaces any CA
    pinned = new_session(max_bytes=MAX, pinned_sha1=thumbprint)
    assert _service_fabric_get(azure_emulator, pinned).json()["access_token"]
    pinned.close()

    wrong = new_session(max_bytes=MAX, pinned_sha1="0" * 40)
    with pytest.raises(requests.exceptions.SSLError):
        _service_fabric_get(azure_emulator, wrong)
    wrong.close()
    assert azure_emulator.counters["mi.service_fabric"] == 1  # the wrong pin sent nothing


def test_a_pinned_session_refuses_plain_http() -> None:
    with ForeignListener() as plain:
        session = new_session(max_bytes=MAX, pinned_sha1="0" * 40)
        with pytest.raises(http_limits.PlainHttpRefusedError):
            session.get(plain.url, headers={"Secret": "not-for-the-wire"}, timeout=5)
        session.close()
        assert plain.connections == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_every_session_drops_its_pooled_connections_in_a_forked_child(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    sessions = {
        "plain": new_session(max_bytes=MAX),  # trusts the emulator's CA through REQUESTS_CA_BUNDLE
        "pinned": new_session(max_bytes=MAX, pinned_sha1=azure_emulator.tls.server_thumbprint_sha1.lower()),
    }
    for session in sessions.values():
        assert _service_fabric_get(azure_emulator, session).status_code == 200  # a kept-alive connection each

    def pools(session: requests.Session) -> int:
        return len(session.get_adapter("https://").poolmanager.pools)  # type: ignore[attr-defined]

    assert {name: pools(session) for name, session in sessions.items()} == {"plain": 1, "pinned": 1}
    in_child = in_children(lambda _: {name: pools(session) for name, session in sessions.items()})
    assert in_child == [{"plain": 0, "pinned": 0}]
    assert {name: pools(session) for name, session in sessions.items()} == {"plain": 1, "pinned": 1}  # the parent's
    for session in sessions.values():
        session.close()
