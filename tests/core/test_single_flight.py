"""The single-flight primitive both caches stand on."""

from __future__ import annotations

import threading

import pytest

from appauth_core._internal.single_flight import SingleFlight


def test_one_call_for_everyone_waiting_and_the_same_error_for_all():
    flights: SingleFlight[str] = SingleFlight()
    gate, started, calls = threading.Event(), threading.Event(), []

    def work() -> str:
        calls.append(1)
        started.set()
        assert gate.wait(10)
        return "value"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(flights.run("k", work))) for _ in range(16)]
    for thread in threads:
        thread.start()
    assert started.wait(10)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert calls == [1]
    assert results == ["value"] * 16

    def failing() -> str:
        raise RuntimeError("upstream down")

    with pytest.raises(RuntimeError, match="upstream down"):
        flights.run("k", failing)
    assert flights.run("k", lambda: "again") == "again"  # a failure is not remembered


def test_ready_short_circuits_and_start_if_idle_never_waits():
    flights: SingleFlight[str] = SingleFlight()
    assert flights.run("k", lambda: "fetched", ready=lambda: "stored") == "stored"
    gate, started = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow() -> str:
        started.set()
        assert gate.wait(10)
        return "refreshed"

    flight = flights.start_if_idle("k", slow, errors.append)
    assert flight is not None and started.wait(10)
    assert flights.start_if_idle("k", lambda: "second", errors.append) is None  # busy: the caller keeps its value
    assert not flight.done.wait(0.05)  # running on a thread of its own
    gate.set()
    assert flight.done.wait(10) and flight.result == "refreshed"

    def failing() -> str:
        raise RuntimeError("upstream down")

    failed = flights.start_if_idle("k", failing, errors.append)
    assert failed is not None and failed.done.wait(10)
    assert isinstance(failed.error, RuntimeError) and errors == [failed.error]  # handled before done was set
    assert flights.run("k", lambda: "third") == "third"


def test_without_a_new_thread_the_refresh_runs_on_the_callers(monkeypatch):
    def refuse(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    flights: SingleFlight[str] = SingleFlight()
    flight = flights.start_if_idle("k", lambda: "inline", lambda exc: None)
    assert flight is not None and flight.done.is_set() and flight.result == "inline"
    assert flights.run("k", lambda: "next") == "next"  # nothing left registered
