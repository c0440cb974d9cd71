"""``manage.py dbshell`` through ``psql`` with a current token in ``PGPASSWORD`` (the client's environment,
which only the same user and root can read, never the command line, which ``ps`` shows everyone), and the
entry's TLS settings checked and completed as for the app's own connections (``require_postgresql_tls``:
``PGSSLMODE=verify-full`` with certifi's CAs unless the entry chose; a mode without TLS is refused)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.backends.postgresql import client  # type: ignore[import-untyped]

from appauth_core.databases import require_postgresql_tls

from ..._token_settings import alias_of, tls_options, token_password


class DatabaseClient(client.DatabaseClient):  # type: ignore[misc]
    @classmethod
    def settings_to_cmd_args_env(
        cls, settings_dict: Mapping[str, Any], parameters: Sequence[str]
    ) -> tuple[list[str], dict[str, str]]:
        alias = alias_of(settings_dict)
        password = token_password(settings_dict, alias)
        options = tls_options(settings_dict, alias, require_postgresql_tls, "sslmode")
        args, env = super().settings_to_cmd_args_env({**settings_dict, "OPTIONS": options}, parameters)
        env = dict(env or {})
        env["PGPASSWORD"] = password()
        return args, env
