"""``python -m appauth_core.testing``: run the local Azure emulator, or steer one that is running.

python -m appauth_core.testing --env-file .emulator.env [--secret NAME=VALUE ...]
python -m appauth_core.testing fault --env-file .emulator.env ENDPOINT --status 503 [--times 2] ...
python -m appauth_core.testing counters --env-file .emulator.env
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._control import CONTROL_KEY_HEADER
from .emulator import AzureEmulator

CONTROL_COMMANDS = ("fault", "counters", "clear-faults")


def _secret_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--secret takes NAME=VALUE, got {text.split('=')[0]!r} without '='")
    return name, value


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m appauth_core.testing",
        description="Local stand-ins for Entra ID, the managed-identity endpoints and Key Vault, on loopback.",
        epilog=f"Steer a running emulator with: python -m appauth_core.testing {{{','.join(CONTROL_COMMANDS)}}} --help",
    )
    parser.add_argument("--env-file", type=Path, help="write dotenv lines here once everything listens")
    parser.add_argument(
        "--secret",
        type=_secret_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="seed the default vault (repeatable)",
    )
    parser.add_argument("--tenant-id", help="use this tenant GUID instead of a random one")
    parser.add_argument("--token-lifetime", type=int, default=3599, help="seconds an app token lives (default 3599)")
    parser.add_argument(
        "--legacy-expires-on",
        action="store_true",
        help="App Service 2017-09-01 answers expires_on in the date form (11/27/2026 01:02:03 AM +00:00)",
    )
    return parser


def serve(argv: Sequence[str]) -> int:
    args = _serve_parser().parse_args(argv)
    emulator = AzureEmulator(tenant_id=args.tenant_id, token_lifetime=args.token_lifetime)
    emulator.configure(legacy_expires_on=args.legacy_expires_on)
    for name, value in args.secret:
        try:
            emulator.vault.set_secret(name, value)
        except ValueError as exc:
            print(f"error: --secret {name}: {exc}", file=sys.stderr)
            return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with emulator:
        if args.env_file:
            emulator.write_env_file(args.env_file)
        print("appauth local Azure emulator is running (Ctrl-C stops it)")
        for key, value in emulator.describe().items():
            print(f"  {key:17} {value}")
        if args.env_file:
            print(f"  environment       {args.env_file} (contains the emulator app's secret)")
        sys.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("stopping")
    return 0


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
    for sub in commands.choices.values():
        sub.add_argument("--env-file", type=Path, required=True, help="the file the running emulator wrote")
    args = parser.parse_args(argv)
    env = _read_env_file(args.env_file)
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
    else:
        _call(env, "DELETE", "/faults")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in CONTROL_COMMANDS:
        return control(arguments)
    return serve(arguments)


if __name__ == "__main__":
    sys.exit(main())
