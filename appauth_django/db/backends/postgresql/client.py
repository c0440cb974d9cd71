"""``manage.py dbshell`` through ``psql`` with a current token in ``PGPASSWORD`` (the client's environment,
which only the same user and root can read, never the command line, which ``ps`` shows everyone), and
``PGSSLMODE=require`` unless the entry chose a mode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.backends.postgresql import client  # type: ignore[import-untyped]

from ..._token_settings import token_password


class DatabaseClient(client.DatabaseClient):  # type: ignore[misc]
    @classmethod
    def settings_to_cmd_args_env(
        cls, settings_dict: Mapping[str, Any], parameters: Sequence[str]
    ) -> tuple[list[str], dict[str, str]]:
        password = token_password(settings_dict)
        args, env = super().settings_to_cmd_args_env(settings_dict, parameters)
        env = dict(env or {})
        env["PGPASSWORD"] = password()
        env.setdefault("PGSSLMODE", "require")
        return args, env
