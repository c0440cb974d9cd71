"""``make demo``: the local Azure emulator, Azurite, and both demo sites, as if they ran on App Service.

Starts, in order: the emulator (Entra ID, the App Service managed-identity endpoint, Key Vault) with demo
secrets and each site's API registered (app roles, the role the sites' managed identity holds); Azurite (blob
storage, OAuth on) with a container of sample blobs; the Django site under gunicorn on http://127.0.0.1:8000/
and the Flask site under gunicorn on http://127.0.0.1:5000/. The sites get only what App Service would give
them (IDENTITY_ENDPOINT / IDENTITY_HEADER) plus where the vault, the storage account and the other site's
API are.

Rotation events: the emulator's Event Grid delivers each new secret version to both sites' webhooks
(``/appauth/events/``; the Event Grid schema to Django, CloudEvents to Flask) with a token for the webhook's own
app registration (``EVENTS_API``, whose app role Event Grid holds). A redis-server (when installed) is each
site's shared secret cache and the pub/sub channel that tells every gunicorn worker; without it only the worker
that received the event drops its copy, and the page says so.

Databases: a PostgreSQL for the Django site and a MariaDB for the Flask site (when installed; the page says
why not otherwise), standing in for Azure Database for PostgreSQL and for MySQL: they take the managed
identity's Entra ID tokens as its password (``appauth_core.testing.databases``). The Django site is migrated
and the Flask site's table created, with the managed identity, before the sites start. Ctrl-C stops everything
it started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cryptography.fernet import Fernet

from appauth_core import AzureServiceTokenProvider
from appauth_core.events import EVENT_GRID_ROLE
from appauth_core.testing import AzureEmulator
from appauth_core.testing.databases import MariaDBServer, PostgreSQLServer, TokenMirror, mariadb_server, postgresql_bin
from appauth_core.tokens import TokenCache

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
AZURITE = REPO / ".tools" / "node" / "node_modules" / ".bin" / "azurite-blob"
CONTAINER = "demo-files"
READY_TIMEOUT = 60.0

DEMO_SECRETS = {
    "demo-greeting": "Hello from Key Vault! This text lives in the emulated vault, not in the code.",
    "public-banner": "appauth demo: tokens and secrets with no credentials in code",
    "django-secret-key": "demo-only-django-secret-key-7f3c9a1e5b2d4f6a8c0e",
    "flask-secret-key": "demo-only-flask-secret-key-1a2b3c4d5e6f7a8b9c0d",
    "db-password": "demo-only-db-password",
}
# Each site's API, as its app registration in Entra ID: App ID URI, accepted token version (Flask's takes v1
# tokens, Django's v2, to show both) and app roles (READ_ROLE and ADMIN_ROLE in demo_sites/common.py, which the
# sites require).
DEMO_APIS = {"DJANGO": ("api://appauth-demo-django", 2), "FLASK": ("api://appauth-demo-flask", 1)}
API_ROLES = ("Demo.Read", "Demo.Admin")
GRANTED_ROLE = "Demo.Read"  # what the sites' managed identity holds on both APIs (not Demo.Admin)
# The webhook's app registration: the audience of Event Grid's tokens (EVENTS["AUDIENCE"]), as
# docs/rotation-events.md creates it with `az ad app create --identifier-uris`.
EVENTS_API = "api://appauth-demo-events"
EVENT_SCHEMAS = {"DJANGO": "EventGridSchema", "FLASK": "CloudEventSchema"}  # one site each, to show both
DEMO_BLOBS = {
    "readme.txt": b"Listed from Azurite with a token from the emulated managed identity.\n",
    "report-2026.csv": b"month,visitors\n2026-10,1200\n2026-11,1530\n",
    "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>',
}


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with code {process.returncode}; its log:\n{log.read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on 127.0.0.1:{port} within {READY_TIMEOUT:.0f} s; log: {log}")


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _process(
    command: list[str], *, env: dict[str, str], log: Path, cwd: Path = REPO
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        # Its own process group, so Ctrl-C in the terminal reaches us once and we stop children in order.
        process = subprocess.Popen(  # noqa: S603 - our own fixed command lines
            command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _seed_blobs(emulator: AzureEmulator, account_url: str) -> None:
    from azure.storage.blob import BlobServiceClient

    connection_string = (
        f"RunAs=App;AppId={emulator.app.app_id};TenantId={emulator.tenant_id};AppKey={emulator.app.secrets[0]}"
    )
    provider = AzureServiceTokenProvider(connection_string, emulator.authority, cache=TokenCache())
    service = BlobServiceClient(account_url, credential=provider, connection_verify=str(emulator.ca_path))
    container = service.get_container_client(CONTAINER)
    container.create_container()
    for name, data in DEMO_BLOBS.items():
        container.upload_blob(name, data, overwrite=True)


def site_env(emulator: AzureEmulator, storage_url: str, cache_seconds: int) -> dict[str, str]:
    """What App Service gives a site (managed identity) plus the demo's own app settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AZURE_", "MSI_", "IDENTITY_"))}
    env.pop("AzureServicesAuthConnectionString", None)
    bundle = str(emulator.ca_bundle_path)
    env.update(
        emulator.app_service_env(),
        REQUESTS_CA_BUNDLE=bundle,
        SSL_CERT_FILE=bundle,
        DEMO_VAULT_URL=emulator.vault.url,
        DEMO_STORAGE_ACCOUNT_URL=storage_url,
        DEMO_STORAGE_CONTAINER=CONTAINER,
        DEMO_SECRET_CACHE_SECONDS=str(cache_seconds),
        PYTHONPATH=str(REPO),
    )
    return env


def register_apis(emulator: AzureEmulator, urls: dict[str, str]) -> dict[str, str]:
    """Register both sites' APIs in the emulated Entra ID, give the sites' (system-assigned) managed identity
    ``GRANTED_ROLE`` on each, and return the app settings (DEMO_*) that tell each site which API it serves and
    where the other one is. ``urls``: each site's base URL, by ``DEMO_APIS`` key."""
    identity = emulator.directory.system_identity
    env = {
        "DEMO_TENANT_ID": emulator.tenant_id,
        "DEMO_AUTHORITY": emulator.authority,
        "DEMO_API_CALLERS": identity.client_id,  # who may call either API: the other site, by its identity
    }
    for site, (app_id_uri, version) in DEMO_APIS.items():
        api = emulator.register_api(
            app_id_uri, roles=API_ROLES, version=version, display_name=f"appauth demo {site.title()} API"
        )
        emulator.assign_role(api, identity, GRANTED_ROLE)
        env |= {
            f"DEMO_{site}_API_URI": api.app_id_uri,
            f"DEMO_{site}_API_CLIENT_ID": api.app_id,  # a v2 token's audience
            f"DEMO_{site}_URL": urls[site],
        }
    return env


def register_events(emulator: AzureEmulator) -> dict[str, str]:
    """Register the webhook's API with the app role Event Grid holds (as docs/rotation-events.md's set-up does)
    and return the app settings that turn the sites' webhooks on."""
    api = emulator.register_api(EVENTS_API, roles=(EVENT_GRID_ROLE,), display_name="appauth demo events")
    emulator.assign_role(api, emulator.event_grid.principal, EVENT_GRID_ROLE)
    return {"DEMO_EVENTS_AUDIENCE": api.app_id_uri}


@contextmanager
def _redis(logs: Path) -> Iterator[dict[str, str]]:
    """A throwaway redis-server on loopback: the sites' shared cache and invalidation channel. Yields the app
    settings pointing the sites at it, or ``DEMO_REDIS_UNAVAILABLE`` saying why there is none."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        yield {"DEMO_REDIS_UNAVAILABLE": "redis-server is not installed (apt-get install redis-server)"}
        return
    port = _free_port()
    log = logs / "redis.log"
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
               "--dir", str(logs), "--protected-mode", "yes"]  # fmt: skip
    with _process(command, env=dict(os.environ), log=log) as process:
        _wait_for_port(port, process, "redis-server", log)
        # The secret values the sites put in Redis are encrypted with this key (CACHE_ENCRYPTION_KEY).
        yield {"DEMO_REDIS_URL": f"redis://127.0.0.1:{port}/0", "DEMO_CACHE_KEY": Fernet.generate_key().decode()}


@contextmanager
def _databases(emulator: AzureEmulator) -> Iterator[dict[str, str]]:
    """PostgreSQL (the Django site's) and MariaDB (the Flask site's) on loopback, TLS only, whose user for the
    sites' managed identity takes that identity's tokens as its password. Yields the app settings pointing the
    sites at them, and for a server that is missing or did not start, ``DEMO_*_UNAVAILABLE`` saying why."""
    identity = emulator.directory.system_identity
    user = identity.resource_id.rsplit("/", 1)[-1]  # Azure names a system-assigned identity after its site
    env = {"DEMO_DATABASE_USER": user}
    with ExitStack() as stack:
        servers: dict[str, PostgreSQLServer | MariaDBServer] = {}
        for name, found, package, server in (
            ("POSTGRES", postgresql_bin(), "postgresql", PostgreSQLServer),
            ("MARIADB", mariadb_server(), "mariadb-server", MariaDBServer),
        ):
            if found is None:
                env[f"DEMO_{name}_UNAVAILABLE"] = f"{package} is not installed (apt-get install {package})"
                continue
            instance = server()
            stack.callback(instance.stop)
            try:
                instance.start()
            except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
                detail = getattr(error, "stderr", b"") or b""
                why = detail.decode(errors="replace").strip().splitlines()[-1:] if detail else [str(error)]
                env[f"DEMO_{name}_UNAVAILABLE"] = f"{package} did not start: {why[0][:300] if why else error}"
                continue
            servers[name] = instance
            env |= {f"DEMO_{name}_PORT": str(instance.port), f"DEMO_{name}_CA": str(instance.tls.ca_path)}
            env["DEMO_DATABASE_NAME"] = instance.database
        postgresql, mariadb = servers.get("POSTGRES"), servers.get("MARIADB")
        if servers:
            mirror = TokenMirror(
                postgresql if isinstance(postgresql, PostgreSQLServer) else None,
                mariadb if isinstance(mariadb, MariaDBServer) else None,
            )
            mirror.mirror(identity.object_id, user)
            stack.callback(mirror.close)
            stack.callback(emulator.on_token_issued(mirror))
            # Four gunicorn workers share this identity and PostgreSQL's role keeps one password (the newest
            # token): the endpoint answers them all with one token, as Azure's managed-identity endpoints do.
            emulator.configure(reuse_managed_identity_tokens=True)
        yield env


def _prepare_databases(env: dict[str, str], logs: Path) -> None:
    """What a deployment runs before the new code serves: Django's migrations and the Flask site's tables,
    signing in with the managed identity like the sites."""
    steps = []
    if "DEMO_POSTGRES_PORT" in env:
        steps.append(("Django's migrate", [sys.executable, "-m", "django", "migrate", "--no-input"],
                      {"DJANGO_SETTINGS_MODULE": "demo_sites.django_site.settings"}))  # fmt: skip
    if "DEMO_MARIADB_PORT" in env:
        flask = [sys.executable, "-m", "flask", "--app", "demo_sites.flask_site.app", "create-tables"]
        steps.append(("the Flask site's create-tables", flask, {}))
    for what, command, extra in steps:
        log = logs / "database-setup.log"
        with log.open("ab") as output:
            done = subprocess.run(  # noqa: S603 - our own fixed command lines
                command, env=env | extra, cwd=REPO, stdout=output, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, timeout=READY_TIMEOUT, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"{what} failed (exit code {done.returncode}); its log:\n{log.read_text()[-4000:]}")


def _gunicorn(app: str, port: int, env: dict[str, str], log: Path, *, chdir: Path) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", "2",
        "--threads", "4", "--chdir", str(chdir), "--access-logfile", "-", "--graceful-timeout", "5",
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--django-port", type=int, default=8000)
    parser.add_argument("--flask-port", type=int, default=5000)
    parser.add_argument("--cache-seconds", type=int, default=20, help="secret cache TTL shown off by 'rotate'")
    parser.add_argument("--ready-file", type=Path, help="write the two URLs here once both sites answer")
    parser.add_argument("--logs", type=Path, default=None, help="folder for the servers' logs")
    args = parser.parse_args(argv)

    for port in (args.django_port, args.flask_port):
        if not _port_is_free(port):
            print(f"error: port {port} on 127.0.0.1 is in use; stop what uses it or pass --django-port/--flask-port")
            return 2
    if not AZURITE.exists():
        print(f"error: Azurite is not installed at {AZURITE}; `make demo` installs it")
        return 2

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        emulator = stack.enter_context(AzureEmulator(token_lifetime=3599))
        os.environ["REQUESTS_CA_BUNDLE"] = str(emulator.ca_bundle_path)  # this process seeds Azurite via msal
        logs = args.logs or emulator.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name, value in DEMO_SECRETS.items():
            emulator.vault.set_secret(name, value)

        storage_port = _free_port()
        azurite_log = logs / "azurite.log"
        azurite = stack.enter_context(
            _process(
                [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(storage_port), "--oauth", "basic",
                 "--cert", str(emulator.tls.cert_path), "--key", str(emulator.tls.key_path),
                 "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck"],
                env=dict(os.environ), log=azurite_log,
            )
        )  # fmt: skip
        _wait_for_port(storage_port, azurite, "Azurite", azurite_log)
        storage_url = f"https://127.0.0.1:{storage_port}/devstoreaccount1"
        _seed_blobs(emulator, storage_url)

        urls = [f"http://127.0.0.1:{args.django_port}/", f"http://127.0.0.1:{args.flask_port}/"]
        env = site_env(emulator, storage_url, args.cache_seconds)
        env |= register_apis(emulator, {"DJANGO": urls[0], "FLASK": urls[1]})
        env |= register_events(emulator)
        env |= stack.enter_context(_redis(logs))
        env |= stack.enter_context(_databases(emulator))
        _prepare_databases(env, logs)
        sites = {
            "Django": (args.django_port, "demo_sites.django_site.wsgi:application", logs / "django.log"),
            "Flask": (args.flask_port, "demo_sites.flask_site.app:app", logs / "flask.log"),
        }
        for name, (port, app, log) in sites.items():
            process = stack.enter_context(_process(_gunicorn(app, port, env, log, chdir=REPO), env=env, log=log))
            _wait_for_port(port, process, f"the {name} site", log)
        for site, url in zip(EVENT_SCHEMAS, urls, strict=True):  # the handshake needs the sites up
            subscription = emulator.subscribe_events(
                f"{url}appauth/events/", schema=EVENT_SCHEMAS[site], audience=EVENTS_API
            )
            stack.callback(subscription.close)
        print("appauth demo is running (Ctrl-C stops it):")
        print(f"  Django site   {urls[0]}")
        print(f"  Flask site    {urls[1]}")
        print(f"  emulator      {emulator.authority} (vault {emulator.vault.url})")
        print(f"  redis         {env.get('DEMO_REDIS_URL') or env['DEMO_REDIS_UNAVAILABLE']}")
        for name, label in (("POSTGRES", "postgresql"), ("MARIADB", "mariadb")):
            where = f"127.0.0.1:{env[f'DEMO_{name}_PORT']}" if f"DEMO_{name}_PORT" in env else ""
            print(f"  {label:<13} {where or env[f'DEMO_{name}_UNAVAILABLE']}")
        print(f"  logs          {logs}")
        sys.stdout.flush()
        if args.ready_file:
            args.ready_file.write_text("\n".join(urls) + "\n")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("stopping the demo")
    if args.logs is None:
        shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
