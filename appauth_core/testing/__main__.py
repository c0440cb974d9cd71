"""``python -m appauth_core.testing``: run the local Azure emulator, or steer one that is running.

python -m appauth_core.testing --env-file .emulator.env [--port 8443] [--state-dir DIR]
                               [--secret NAME=VALUE ...] [--secrets-file secrets.json]
python -m appauth_core.testing fault --env-file .emulator.env ENDPOINT --status 503 [--times 2] ...
python -m appauth_core.testing counters --env-file .emulator.env
python -m appauth_core.testing api --env-file .emulator.env api://orders --role Orders.Read [--version 2]
python -m appauth_core.testing assign-role --env-file .emulator.env api://orders system Orders.Read
python -m appauth_core.testing rotate-key --env-file .emulator.env    (then retire-keys)

The env file exists while the emulator runs: it is written once everything listens and removed when the
emulator stops (Ctrl-C, SIGTERM, SIGHUP or an error), so it never points at a CA or ports that are gone.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._control import CONTROL_KEY_HEADER, PRINCIPAL_ALIASES
from .emulator import PORT_OFFSETS, AzureEmulator, PortInUseError

CONTROL_COMMANDS = ("fault", "counters", "clear-faults", "api", "assign-role", "rotate-key", "retire-keys")
# Handled, not raised: the env file goes away whichever way the emulator is stopped (Windows has no SIGHUP).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class UsageError(Exception):
    """A command-line value the emulator cannot use; printed as ``error: ...`` with exit status 2."""


def _secret_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--secret takes NAME=VALUE, got {text.split('=')[0]!r} without '='")
    return name, value


def _port(text: str) -> int:
    highest = 65535 - max(PORT_OFFSETS.values())
    if not text.isdigit() or not 0 < int(text) <= highest:
        raise argparse.ArgumentTypeError(f"--port takes a number from 1 to {highest}, got {text!r}")
    return int(text)


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m appauth_core.testing",
        description="Local stand-ins for Entra ID, the managed-identity endpoints and Key Vault, on loopback.",
        epilog=f"Steer a running emulator with: python -m appauth_core.testing {{{','.join(CONTROL_COMMANDS)}}} --help",
    )
    parser.add_argument(
        "--env-file", type=Path, help="write dotenv lines here once everything listens; removed when it stops"
    )
    parser.add_argument(
        "--port",
        type=_port,
        help="the vault's port (https://127.0.0.1:PORT/); Entra ID is PORT+1, managed identity PORT+2, control "
        "PORT+3, Service Fabric PORT+4, ADFS PORT+5. Default: free ports, new on every start",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="keep the CA, tenant, service principal and keys here and reuse them on the next start: with "
        "--port the env file is then the same on every start (default: a temporary folder, removed on exit)",
    )
    parser.add_argument(
        "--secret",
        type=_secret_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="seed the default vault (repeatable; after --secrets-file, so it wins)",
    )
    parser.add_argument(
        "--secrets-file",
        type=Path,
        help='seed the default vault from a JSON object, {"db-password": "...", "banner": "..."}',
    )
    parser.add_argument("--tenant-id", help="use this tenant GUID instead of a random one")
    parser.add_argument("--token-lifetime", type=int, default=3599, help="seconds an app token lives (default 3599)")
    parser.add_argument(
        "--legacy-expires-on",
        action="store_true",
        help="App Service 2017-09-01 answers expires_on in the date form (11/27/2026 01:02:03 AM +00:00)",
    )
    return parser


def _secrets_file(path: Path) -> list[tuple[str, str, str]]:
    """(origin, name, value) from a JSON object. JSON, not dotenv: Key Vault names have dashes and values span
    lines (PEM, JSON), which JSON spells one way only. Messages name the file and the secret, never a value."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--secrets-file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--secrets-file {path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--secrets-file {path} is not UTF-8 text") from None
    if not isinstance(data, dict):
        raise UsageError(f'--secrets-file {path} must hold one JSON object, {{"secret-name": "value", ...}}')
    origin = f"--secrets-file {path}:"
    for name, value in data.items():
        if not isinstance(value, str):
            raise UsageError(f"{origin} the value of {name!r} must be a string, not {type(value).__name__}")
    return [(origin, name, value) for name, value in data.items()]


def _seed(emulator: AzureEmulator, seeds: list[tuple[str, str, str]]) -> None:
    for origin, name, value in seeds:
        try:
            emulator.vault.set_secret(name, value)
        except ValueError as exc:
            raise UsageError(f"{origin} {name}: {exc}") from None


def _emulator(args: argparse.Namespace) -> AzureEmulator:
    seeds = _secrets_file(args.secrets_file) if args.secrets_file else []
    seeds += [("--secret", name, value) for name, value in args.secret]
    try:
        emulator = AzureEmulator(
            tenant_id=args.tenant_id,
            token_lifetime=args.token_lifetime,
            port=args.port,
            state_dir=args.state_dir,
            keep_state=args.state_dir is not None,
        )
    except (OSError, ValueError) as exc:  # a state folder that cannot be made, or a state file that is not ours
        raise UsageError(f"--state-dir {args.state_dir}: {exc}" if args.state_dir else str(exc)) from None
    emulator.configure(legacy_expires_on=args.legacy_expires_on)
    try:
        _seed(emulator, seeds)
    except UsageError:
        emulator.stop()  # removes the temporary state folder
        raise
    return emulator


def serve(argv: Sequence[str]) -> int:
    args = _serve_parser().parse_args(argv)
    try:
        emulator = _emulator(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for number in STOP_SIGNALS:
        signal.signal(number, lambda *_: stop.set())
    try:
        emulator.start()
    except PortInUseError as error:
        emulator.stop()
        print(f"error: {error.strerror} (--port {args.port})", file=sys.stderr)
        return 2
    written = None
    try:
        if args.env_file:
            written = emulator.write_env_file(args.env_file)
        _print_summary(emulator, args.env_file)
        while not stop.wait(0.5):
            pass
        print("stopping", flush=True)
    finally:
        if written is not None:
            _remove_if_ours(args.env_file, written)
        emulator.stop()
    return 0


def _print_summary(emulator: AzureEmulator, env_file: Path | None) -> None:
    print("appauth local Azure emulator is running (Ctrl-C stops it)")
    for key, value in emulator.describe().items():
        print(f"  {key:17} {value}")
    if env_file:
        print(f"  environment       {env_file} (contains the emulator app's secret; removed when it stops)")
        print(f"  load it with      set -a; . {_shell_path(env_file)}; set +a")
    sys.stdout.flush()


def _shell_path(path: Path) -> str:
    """``.`` looks a name without a slash up on PATH, so a file in the current folder is spelled ``./name``."""
    return str(path) if "/" in str(path) else f"./{path}"


def _remove_if_ours(path: Path, written: str) -> None:
    """Remove the env file unless another emulator has written it since (then it is that one's to remove)."""
    try:
        if path.read_text() == written:
            path.unlink()
    except FileNotFoundError:
        pass


# --- steering a running emulator ---------------------------------------------------------------------


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name.strip()] = json.loads(value) if value.startswith('"') else value
    return values


def _call(env: dict[str, str], method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - the URL is the emulator's own loopback control port
        env["APPAUTH_EMULATOR_CONTROL_URL"].rstrip("/") + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={CONTROL_KEY_HEADER: env["APPAUTH_EMULATOR_CONTROL_KEY"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        payload = response.read()
    return json.loads(payload) if payload else None


def control(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m appauth_core.testing")
    commands = parser.add_subparsers(dest="command", required=True)
    fault = commands.add_parser("fault", help="make the next requests to an endpoint fail or stall")
    fault.add_argument("endpoint", help="e.g. entra.token, mi.imds, keyvault.local.get_secret, keyvault")
    fault.add_argument("--status", type=int)
    fault.add_argument("--times", type=int, default=1)
    fault.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    fault.add_argument("--retry-after", type=int, help="add a Retry-After header (seconds)")
    fault.add_argument("--body", help="response body text")
    fault.add_argument("--truncate", action="store_true", help="send half the body, then drop the connection")
    fault.add_argument("--garbage", action="store_true", help="answer with a body that is not JSON")
    commands.add_parser("counters", help="print requests per endpoint as JSON")
    commands.add_parser("clear-faults", help="drop every pending fault")
    api = commands.add_parser("api", help="register an API (App ID URI, app roles, token version); prints it as JSON")
    api.add_argument("app_id_uri", help="e.g. api://orders")
    api.add_argument("--role", action="append", default=[], help="an app role it defines (repeatable)")
    api.add_argument("--version", type=int, choices=(1, 2), default=1, help="accessTokenAcceptedVersion (default 1)")
    api.add_argument("--tenant-id", help="the tenant to register it in (default: the home tenant)")
    api.add_argument("--multi-tenant", action="store_true", help="every tenant's apps may get tokens for it")
    assign = commands.add_parser("assign-role", help="give a principal one of an API's app roles")
    assign.add_argument("api", help="the API's App ID URI or app id")
    assign.add_argument("principal", help=f"{', '.join(PRINCIPAL_ALIASES)}, or a client id or object id")
    assign.add_argument("role")
    commands.add_parser("rotate-key", help="publish a new signing key and sign with it; prints its kid")
    commands.add_parser("retire-keys", help="stop publishing every signing key but the newest")
    for sub in commands.choices.values():
        sub.add_argument("--env-file", type=Path, required=True, help="the file the running emulator wrote")
    args = parser.parse_args(argv)
    env = _read_env_file(args.env_file)
    try:
        _run_control(env, args)
    except urllib.error.HTTPError as refused:  # the control API says what was wrong: {"error": ...}
        try:
            reason = json.loads(refused.read() or b"{}").get("error") or refused.reason
        except ValueError:
            reason = refused.reason
        print(f"error: {reason}", file=sys.stderr)
        return 2
    return 0


def _run_control(env: dict[str, str], args: argparse.Namespace) -> None:
    if args.command == "fault":
        headers = {"Retry-After": str(args.retry_after)} if args.retry_after is not None else {}
        _call(
            env,
            "POST",
            "/faults",
            {
                "endpoint": args.endpoint,
                "status": args.status,
                "times": args.times,
                "delay": args.delay,
                "headers": headers,
                "body": args.body,
                "truncate": args.truncate,
                "garbage": args.garbage,
            },
        )
    elif args.command == "counters":
        print(json.dumps(_call(env, "GET", "/counters"), indent=2, sort_keys=True))
    elif args.command == "clear-faults":
        _call(env, "DELETE", "/faults")
    else:
        print(json.dumps(_steer(env, args), indent=2, sort_keys=True))


def _steer(env: dict[str, str], args: argparse.Namespace) -> Any:
    """The API, role-assignment and signing-key commands; each prints the control API's answer."""
    if args.command == "api":
        body = {"app_id_uri": args.app_id_uri, "roles": args.role, "version": args.version}
        if args.tenant_id:
            body["tenant_id"] = args.tenant_id
        if args.multi_tenant:
            body["multi_tenant"] = True
        return _call(env, "POST", "/apis", body)
    if args.command == "assign-role":
        return _call(
            env, "POST", "/role-assignments", {"api": args.api, "principal": args.principal, "role": args.role}
        )
    if args.command == "rotate-key":
        return _call(env, "POST", "/signing-keys/rotate")
    return _call(env, "POST", "/signing-keys/retire")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in CONTROL_COMMANDS:
        return control(arguments)
    return serve(arguments)


if __name__ == "__main__":
    sys.exit(main())
