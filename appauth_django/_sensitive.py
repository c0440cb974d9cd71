"""``hide_locals``: Django's ``@sensitive_variables()`` (every local), with its type kept for mypy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.views.decorators.debug import sensitive_variables  # type: ignore[import-untyped]

F = TypeVar("F", bound=Callable[..., Any])


def hide_locals(func: F) -> F:
    """Error reports (``AppAuthExceptionReporterFilter`` even with DEBUG on) show none of ``func``'s locals,
    nor those of anything it calls: the frames that hold secret values or the settings they came from."""
    return cast(F, sensitive_variables()(func))
