"""The helpers both adapters used to write each in their own words: how a settings path is spelled, which
settings change when resolved references are written back, and the template rule for ``keyvault_secret``.
Each adapter keeps only what its framework decides (where settings live, what ``DEBUG`` is, which logger)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..errors import TemplateSecretNotAllowedError
from ..keyvault import Path, replace_references
from ._services import AppAuthServices


def spell_path(path: Path) -> str:
    """A settings path as the user writes it: ``DATABASES['default']['PASSWORD']``, ``HOSTS[0]``."""
    head, *rest = path
    return str(head) + "".join(f"[{part!r}]" for part in rest)


def changed_settings(current: Mapping[str, Any], resolved: Mapping[Path, str]) -> dict[str, Any]:
    """The top-level settings whose value changes when ``resolved`` values replace their references in
    ``current``, by name, with their new values; containers are copied (``replace_references``), never
    mutated."""
    updated = replace_references(current, resolved)
    return {name: updated[name] for name in dict.fromkeys(path[0] for path in resolved)}


def template_secret_or_blank(
    services: AppAuthServices, name: str, *, debug: bool, logger: logging.Logger, shown_as: str
) -> str:
    """The template rule: the secret ``name`` if the template allow-list has it; otherwise raise in debug
    (the developer sees why) and render nothing in production, with a warning naming ``shown_as`` (how the
    template asked for it) and the allow-list setting."""
    try:
        return services.template_secret(name)
    except TemplateSecretNotAllowedError as error:
        if debug:
            raise
        logger.warning("%s rendered nothing: the name is not in %s", shown_as, error.setting or "TEMPLATE_SECRETS")
        return ""
