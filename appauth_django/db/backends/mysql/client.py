"""``manage.py dbshell`` through the ``mysql`` client with a current token in ``MYSQL_PWD`` (the client's
environment, never the command line, which ``ps`` shows everyone), with ``--enable-cleartext-plugin``
(Azure's server asks for the token in clear text) and ``--ssl`` unless the entry names its own CA: the
cleartext plugin only over TLS. The flags are those of MariaDB's client (Debian's ``mysql``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.backends.mysql import client  # type: ignore[import-untyped]

from ..._token_settings import token_password


class DatabaseClient(client.DatabaseClient):  # type: ignore[misc]
    @classmethod
    def settings_to_cmd_args_env(
        cls, settings_dict: Mapping[str, Any], parameters: Sequence[str]
    ) -> tuple[list[str], dict[str, str]]:
        password = token_password(settings_dict)
        args, env = super().settings_to_cmd_args_env(settings_dict, parameters)
        flags = ["--enable-cleartext-plugin"]
        if not (settings_dict.get("OPTIONS") or {}).get("ssl"):
            flags.append("--ssl")
        return [args[0], *flags, *args[1:]], {**(env or {}), "MYSQL_PWD": password()}
