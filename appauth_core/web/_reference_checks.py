"""What can be said about ``@Microsoft.KeyVault(...)`` references without reading them: is each one well
formed, and does it name a vault the configuration allows a token to be sent to?

The adapters' configuration checks (``manage.py check``, ``flask appauth check``) use this for references
that are not resolved at startup (``RESOLVE_REFERENCES`` off): those would otherwise fail only when some
code finally reads them. No I/O, no token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidReferenceError
from ..keyvault._references import DEFAULT_VAULT_SUFFIX, parse_reference
from ..tokens._vault_hosts import VaultHostAllowList, VaultOrigin
from ._config import AppAuthConfig

Problem = Literal["invalid", "not_allowed"]


@dataclass(frozen=True)
class ReferenceProblem:
    setting: str  # where the reference is, as the user spells it
    kind: Problem
    message: str  # never contains a secret: references are addresses, not values


def reference_problems(config: AppAuthConfig, references: Mapping[str, str]) -> list[ReferenceProblem]:
    """``references`` is {setting: reference text}. A configuration whose vault URL or allowed hosts are
    themselves invalid is the caller's to report; then only the public vault suffixes are allowed here."""
    allow_list = _allow_list(config)
    problems = []
    for setting, text in references.items():
        try:
            ref = parse_reference(text, vault_suffix=config.vault_suffix)
        except InvalidReferenceError as error:
            problems.append(ReferenceProblem(setting, "invalid", str(error)))
            continue
        if not allow_list.allows(ref.origin):
            problems.append(
                ReferenceProblem(
                    setting,
                    "not_allowed",
                    f"the reference names the vault {ref.origin.url}, which is not an allowed Key Vault host "
                    f"(allowed: {', '.join(str(p) for p in allow_list.patterns)})",
                )
            )
    return problems


def _allow_list(config: AppAuthConfig) -> VaultHostAllowList:
    try:
        vault = VaultOrigin.parse(config.key_vault_url) if config.key_vault_url else None
        return VaultHostAllowList.build(
            vault=vault, vault_suffix=config.vault_suffix, allowed_hosts=config.allowed_vault_hosts
        )
    except ValueError:
        return VaultHostAllowList.build(vault_suffix=DEFAULT_VAULT_SUFFIX)
