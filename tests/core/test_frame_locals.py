"""``_internal.frame_locals``: what ``clears_locals`` clears and what it keeps, ``Hidden``, and the log filter.

The functions that fail are defined in ``_library`` below, compiled under a file name outside ``tests/`` so they
stand for appauth's (or a library's) frames; these tests look at the frames directly.
"""

from __future__ import annotations

import logging
import traceback
from types import FrameType, TracebackType
from typing import Any

import pytest

from appauth_core import AppAuthError
from appauth_core._internal.frame_locals import Hidden, WithholdTracebacks, clears_locals, withhold_tracebacks

SECRET = "s3cr3t-value-in-a-local"

_SOURCE = """
import json


def parse(text):
    held = {"text": text}
    return json.loads(text)


def fail_hiding_the_cause(text):
    try:
        parse(text)
    except ValueError:
        raise LookupError("the document is not JSON") from None


def fail_with_the_cause(text):
    try:
        parse(text)
    except ValueError as exc:
        raise LookupError("the document is not JSON") from exc
"""
_library: dict[str, Any] = {}
exec(compile(_SOURCE, "/opt/library/parsing.py", "exec"), _library)  # noqa: S102 - a module outside tests/


def _frames(tb: TracebackType | None) -> list[FrameType]:
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames


def _locals_below(error: BaseException, function: str) -> list[dict[str, Any]]:
    return [frame.f_locals for frame in _frames(error.__traceback__) if frame.f_code.co_name == function]


def test_without_it_the_locals_hold_the_secret() -> None:
    """The baseline the decorator is for: json's and the caller's frames keep the text."""
    with pytest.raises(LookupError) as caught:
        _library["fail_hiding_the_cause"](SECRET)
    context = caught.value.__context__
    assert context is not None and caught.value.__suppress_context__
    assert [held["text"] for held in _locals_below(context, "parse")] == [SECRET]


def test_locals_below_the_entry_point_are_cleared_and_where_it_failed_is_kept() -> None:
    entry = clears_locals(_library["fail_with_the_cause"])
    with pytest.raises(LookupError) as caught:
        entry(SECRET)
    error = caught.value
    assert str(error) == "the document is not JSON"
    cause = error.__cause__
    assert isinstance(cause, ValueError) and "Expecting value" in str(cause)  # an explicit cause stays
    for exc in (error, cause):
        for frame in _frames(exc.__traceback__):
            if frame.f_code.co_name != "test_locals_below_the_entry_point_are_cleared_and_where_it_failed_is_kept":
                assert SECRET not in repr(frame.f_locals), frame.f_code.co_name
    shown = "".join(traceback.format_exception(error))
    assert "/opt/library/parsing.py" in shown and "in parse" in shown and "json" in shown  # lines, not locals
    wrapper = [frame for frame in _frames(error.__traceback__) if frame.f_code.co_name == "wrapper"]
    assert wrapper and set(wrapper[0].f_locals) <= {"func"}  # still running when cleared: its arguments deleted


def test_a_context_hidden_by_from_none_is_dropped() -> None:
    entry = clears_locals(_library["fail_hiding_the_cause"])
    with pytest.raises(LookupError) as caught:
        entry(SECRET)
    assert caught.value.__context__ is None and caught.value.__suppress_context__


def test_the_callers_own_exception_is_left_alone() -> None:
    """An exception the caller was handling when it called in becomes the context; its frames keep their locals."""

    def callers_code(text: str) -> None:
        mine = {"kept": text}
        raise KeyError(mine)

    def call_in_while_handling() -> None:
        try:
            callers_code("the caller's own value")
        except KeyError:
            clears_locals(_raise_runtime_error)()

    with pytest.raises(RuntimeError) as caught:
        call_in_while_handling()
    callers = caught.value.__context__
    assert isinstance(callers, KeyError)
    assert [f["mine"] for f in _locals_below(callers, "callers_code")] == [{"kept": "the caller's own value"}]


def _raise_runtime_error() -> None:
    raise RuntimeError("inside the call")


def test_the_return_value_and_arguments_pass_through() -> None:
    @clears_locals
    def add(a: int, *, b: int) -> int:
        return a + b

    assert add(1, b=2) == 3
    assert add.__name__ == "add"


def test_hidden_masks_its_value() -> None:
    hidden = Hidden(SECRET)
    for shown in (repr(hidden), str(hidden), f"{hidden}", repr([hidden]), repr({"k": (hidden,)})):
        assert SECRET not in shown and "Redacted" in shown
    assert hidden.value == SECRET


def test_a_library_logger_keeps_its_message_without_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    name = "tests.frame_locals.library"
    withhold_tracebacks(name, name)
    logger = logging.getLogger(name)
    assert sum(isinstance(f, WithholdTracebacks) for f in logger.filters) == 1  # installed once
    try:
        try:
            _library["parse"](SECRET)
        except ValueError:
            logger.exception("Token response is not in json format: %s", "<html>")
    finally:
        for existing in list(logger.filters):
            logger.removeFilter(existing)
    record = caplog.records[-1]
    assert record.exc_info is None and record.exc_text is None
    assert record.getMessage() == (
        "Token response is not in json format: <html> (JSONDecodeError: Expecting value: line 1 column 1 (char 0); "
        "traceback withheld by appauth)"
    )


def test_an_appauth_error_keeps_its_fields() -> None:
    @clears_locals
    def fail(secret: str) -> None:
        error = AppAuthError("what failed and why")
        error.setting = "DATABASE_PASSWORD"  # type: ignore[attr-defined]
        raise error

    with pytest.raises(AppAuthError) as caught:
        fail(SECRET)
    assert caught.value.setting == "DATABASE_PASSWORD"  # type: ignore[attr-defined]
