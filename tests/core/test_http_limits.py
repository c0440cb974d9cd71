"""http_limits on its own: the deadline scopes, the size cap, https only, and a request when no watchdog thread
can start. Every source and Key Vault against trickling and huge replies: tests/hardening/test_security_limits.py."""

from __future__ import annotations

import threading

import pytest
import requests

from appauth_core._internal import http_limits
from appauth_core._internal.http_sessions import new_session
from appauth_core.testing import AzureEmulator
from tests.hardening.support import ForeignListener

RESOURCE = "https://vault.azure.net"


def _managed_identity_get(emulator: AzureEmulator, session: requests.Session) -> requests.Response:
    env = emulator.app_service_env()
    return session.get(
        env["IDENTITY_ENDPOINT"],
        params={"api-version": "2019-08-01", "resource": RESOURCE},
        headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]},
        timeout=(2, 5),
    )


def test_nested_deadlines_the_earlier_one_applies():
    assert http_limits.remaining() is None
    with http_limits.deadline(60):
        with http_limits.deadline(1):
            inner = http_limits.remaining()
        with http_limits.deadline(600):
            longer = http_limits.remaining()
        outer = http_limits.remaining()
    assert inner is not None and inner <= 1
    assert longer is not None and 1 < longer <= 60  # a longer deadline inside: the outer one still holds
    assert outer is not None and outer <= 60
    assert http_limits.remaining() is None


def test_a_content_length_over_the_cap_is_refused_before_the_body_is_read():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{}"
    with ForeignListener(reply=head) as server:
        session = new_session(max_bytes=http_limits.TOKEN_REPLY_MAX_BYTES)
        with pytest.raises(http_limits.ReplyTooLargeError, match=r"larger than 64 KiB \(it announces 1000000000"):
            session.get(server.url, timeout=5)
        session.close()


def test_a_block_may_read_more_than_the_adapter_cap(azure_emulator: AzureEmulator):
    session = new_session(max_bytes=http_limits.TOKEN_REPLY_MAX_BYTES)
    azure_emulator.faults.inject("mi.app_service", pad=100 * 1024, times=2)
    with pytest.raises(http_limits.ReplyTooLargeError, match="larger than 64 KiB"):
        _managed_identity_get(azure_emulator, session)
    with http_limits.reply_limit(http_limits.DOCUMENT_MAX_BYTES):
        reply = _managed_identity_get(azure_emulator, session)
    assert len(reply.content) > 100 * 1024
    assert reply.json()["access_token"]  # the padding is JSON whitespace
    session.close()


def test_an_https_only_session_sends_nothing_over_plain_http():
    with ForeignListener() as plain:
        session = new_session(max_bytes=http_limits.TOKEN_REPLY_MAX_BYTES, https_only=True)
        with pytest.raises(http_limits.PlainHttpRefusedError, match="over plain http"):
            session.post(f"{plain.url}token", data={"client_secret": "not-for-the-wire"}, timeout=5)
        session.close()
        assert plain.connections == []


def test_without_a_new_thread_for_the_watchdog_the_request_still_runs(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
):
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    session = new_session(max_bytes=http_limits.TOKEN_REPLY_MAX_BYTES)
    monkeypatch.setattr(threading.Timer, "start", refuse)
    reply = _managed_identity_get(azure_emulator, session)
    assert reply.status_code == 200 and reply.json()["access_token"]
    session.close()
