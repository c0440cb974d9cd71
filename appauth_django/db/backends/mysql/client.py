"""``manage.py dbshell`` through the ``mysql`` client with a current token in ``MYSQL_PWD`` (the client's
environment, never the command line, which ``ps`` shows everyone), with ``--enable-cleartext-plugin``
(Azure's server asks for the token in clear text) only over TLS, the entry's TLS settings checked and
completed as for the app's own connections (``require_mysqlclient_tls``): ``--ssl`` always, the CA file
(certifi's unless the entry names one) and ``--ssl-verify-server-cert`` unless the entry chose
``ssl_mode`` ``REQUIRED``. The flags are those of MariaDB's client (Debian's ``mysql``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.backends.mysql import client  # type: ignore[import-untyped]

from appauth_core.databases import require_mysqlclient_tls

from ..._token_settings import alias_of, tls_options, token_password


class DatabaseClient(client.DatabaseClient):  # type: ignore[misc]
    @classmethod
    def settings_to_cmd_args_env(
        cls, settings_dict: Mapping[str, Any], parameters: Sequence[str]
    ) -> tuple[list[str], dict[str, str]]:
        alias = alias_of(settings_dict)
        password = token_password(settings_dict, alias)
        options = tls_options(settings_dict, alias, require_mysqlclient_tls, "ssl_mode")
        args, env = super().settings_to_cmd_args_env({**settings_dict, "OPTIONS": options}, parameters)
        flags = ["--enable-cleartext-plugin", "--ssl"]
        if str(options["ssl_mode"]).upper().startswith("VERIFY"):
            flags.append("--ssl-verify-server-cert")
        return [args[0], *flags, *args[1:]], {**(env or {}), "MYSQL_PWD": password()}
