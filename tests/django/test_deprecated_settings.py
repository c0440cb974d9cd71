"""Reading every setting (to find Key Vault references) is appauth's doing, not a use of the settings Django
deprecates: Django 4.2 serves USE_L10N, DEFAULT_FILE_STORAGE and STATICFILES_STORAGE through properties
that warn on each read, which under ``-W error`` would stop the app from starting."""

from __future__ import annotations

import warnings

from django.conf import settings

from appauth_django import resolution


def _deprecated_settings() -> list[str]:
    """The settings this Django serves through a warning property (none since Django 5.1)."""
    return [
        name
        for name in dir(type(settings))
        if name.isupper() and not name.startswith("_") and isinstance(getattr(type(settings), name), property)
    ]


def test_reading_every_setting_warns_nothing() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = resolution.current_settings()
        resolution.unresolved_references()
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    # Still read: a reference in one of them is found like any other.
    assert set(_deprecated_settings()) <= set(values)
