"""Keeping secrets out of the frame locals that error trackers show.

Sentry, Rollbar, ``traceback.TracebackException(capture_locals=True)``, rich tracebacks and Werkzeug's
debugger show every local of every frame in an exception's traceback, and in those of the exceptions chained
to it. While appauth reads a secret or gets a token, its frames, and those of msal, azure-core, requests and
urllib3 below them, hold AppKeys, secret values, tokens and encryption keys in locals; a failure then hands
them all to the tracker, whose scrubbers go by names (Sentry's and Django's denylists: ``password``,
``secret`` ...), which ``values``, ``text`` or ``kwargs`` are not. Django's exception reporter filter
(``appauth_django.debug``) hides these frames on its own pages; these two tools keep them out of every
other report:

- ``clears_locals`` decorates appauth's entry points. When an exception leaves one, the locals of every
  frame it went through below the entry point are cleared (``frame.clear()``, as ``traceback.clear_frames``
  does), in its own traceback and in those of the exceptions raised during the call that are chained to it;
  a chained exception hidden by ``raise ... from None`` is dropped (``__context__`` set to None), so the
  upstream exception object (a ``requests`` error holding the request body, say) goes with it. File, line
  and function of each frame stay: the traceback still shows where it failed, the message what and why.
  An exception the caller was already handling when it called appauth is left as it is.
- ``Hidden`` holds a secret where a local or a container could show it (results being gathered): its
  ``repr`` and ``str`` are masked; ``.value`` unwraps it where it is handed over.

And for libraries that log an exception, traceback included, while their frames hold a credential (msal),
``withhold_tracebacks`` keeps the traceback out of the log record: a tracker's logging integration takes the
locals when the record is logged, which no clearing afterwards can undo.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Generic, TypeVar, cast

F = TypeVar("F", bound=Callable[..., object])
T = TypeVar("T")

__all__ = ["Hidden", "WithholdTracebacks", "clear_locals", "clears_locals", "withhold_tracebacks"]


class Hidden(Generic[T]):
    """A secret value (or anything holding one) that shows as ``Hidden(<<Redacted>>)`` wherever it is shown."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Hidden(<<Redacted>>)"

    __str__ = __repr__  # never the value, even through format() or an f-string


def clears_locals(func: F) -> F:
    """``func``, with the locals of the frames below it cleared when an exception leaves it (see the
    module docstring). Costs one call frame: keep it off paths measured in nanoseconds (cache hits)."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except BaseException as error:
            clear_locals(error)
            del args, kwargs  # this frame is in the traceback too, and it is still running: it cannot be cleared
            raise

    return cast(F, wrapper)


def clear_locals(error: BaseException) -> None:
    """Clear the locals of the finished frames of ``error``'s traceback and of the exceptions chained to it
    that were raised during the current call; drop the chained exceptions ``raise ... from None`` hid (their
    frames cleared first: a log handler may still hold them)."""
    for current in list(_raised_during_call(error)):
        _clear_frames(current.__traceback__)
        if current.__suppress_context__ and current.__cause__ is None:
            current.__context__ = None


def _raised_during_call(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the exceptions chained to it, each once, but not those caught by a frame that is still
    running (the caller's own, which was being handled when appauth was called), nor what is chained to them."""
    seen = {id(error)}
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        yield current
        for chained in (current.__cause__, current.__context__):
            if chained is not None and id(chained) not in seen:
                seen.add(id(chained))
                if _caught_by_a_finished_frame(chained.__traceback__):
                    pending.append(chained)


class WithholdTracebacks(logging.Filter):
    """A logger filter for libraries that log an exception with its traceback from frames holding a credential:
    msal logs a token reply it cannot parse (``logger.exception``) from the frame holding the form it posted,
    client secret or assertion included, and a failed signature from the one holding the private key. An error
    tracker's logging integration (Sentry's sends every ERROR record as an event) would take those frames'
    locals at that moment, before any ``clears_locals`` runs. The record keeps its message, with the
    exception's type and first line added; the traceback is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            first_line = (str(error).splitlines() or [""])[0][:200]
            record.msg = f"{record.getMessage()} ({type(error).__name__}: {first_line}; traceback withheld by appauth)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def withhold_tracebacks(*logger_names: str) -> None:
    """Install ``WithholdTracebacks`` on these loggers (once each): a logger's filters see only the records
    logged on it, so every logger that logs such a traceback is named."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, WithholdTracebacks) for existing in logger.filters):
            logger.addFilter(WithholdTracebacks())


def _caught_by_a_finished_frame(tb: TracebackType | None) -> bool:
    """The first frame of a traceback is the one that caught the exception; clearing it fails while it runs."""
    if tb is None:
        return True
    try:
        tb.tb_frame.clear()
    except RuntimeError:
        return False
    return True


def _clear_frames(tb: TracebackType | None) -> None:
    while tb is not None:
        with contextlib.suppress(RuntimeError):  # still running: the entry point's own frame, its callers ...
            tb.tb_frame.clear()
        tb = tb.tb_next
