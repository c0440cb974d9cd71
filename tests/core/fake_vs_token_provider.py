"""A stand-in for Visual Studio's token program (Microsoft.Asal.TokenService.exe), run as a real process.

Tests copy it into a temporary folder with a ``#!<python>`` line and list the copy in a
``tokenprovider.json``. Like the real one it takes ``--resource R [--tenant T]`` after its own arguments,
gets a token from Entra ID (here: the emulator, with client credentials) and prints
``{"access_token": ..., "expires_on": ...}``. Its own arguments choose how it misbehaves.
The client secret comes from an environment variable, never from the command line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time

import requests


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resource", required=True)
    parser.add_argument("--tenant")
    parser.add_argument("--authority", help="the emulator's https://127.0.0.1:<port>/")
    parser.add_argument("--default-tenant")
    parser.add_argument("--client-id")
    parser.add_argument("--secret-variable", help="environment variable holding the client secret")
    parser.add_argument("--ca", help="CA bundle that trusts the emulator")
    parser.add_argument("--record", help="append this run's arguments (as JSON) to this file")
    parser.add_argument("--expires-format", choices=["iso-local", "iso-utc", "epoch", "epoch-string"])
    parser.add_argument("--fail", help="print this to stderr and exit 1")
    parser.add_argument("--stdout", help="print this instead of a token")
    parser.add_argument("--sleep", type=float, default=0.0)
    return parser.parse_args(argv)


def _token(args: argparse.Namespace) -> tuple[str, int]:
    tenant = args.tenant or args.default_tenant
    session = requests.Session()
    session.trust_env = False  # no proxy; trust exactly the emulator's CA
    response = session.post(
        f"{args.authority}{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": args.client_id,
            "client_secret": os.environ[args.secret_variable],
            "scope": args.resource.rstrip("/") + "/.default",
        },
        verify=args.ca,
        timeout=30,
    )
    body = response.json()
    if response.status_code != 200:
        sys.stderr.write(f"TS003: Error, {body.get('error_description')}\n")
        sys.exit(1)
    return body["access_token"], int(time.time()) + int(body["expires_in"])


def _format(expires_on: int, style: str | None) -> object:
    if style == "epoch":
        return expires_on
    if style == "epoch-string":
        return str(expires_on)
    if style == "iso-utc":
        return dt.datetime.fromtimestamp(expires_on, dt.timezone.utc).isoformat()
    return dt.datetime.fromtimestamp(expires_on).strftime("%Y-%m-%dT%H:%M:%S")  # .NET "s": local, no offset


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    if args.record:
        with open(args.record, "a", encoding="utf-8") as record:
            record.write(json.dumps({"program": sys.argv[0], "argv": argv}) + "\n")
    if args.sleep:
        time.sleep(args.sleep)
    if args.fail:
        sys.stderr.write(args.fail + "\n")
        return 1
    if args.stdout is not None:
        sys.stdout.write(args.stdout)
        return 0
    token, expires_on = _token(args)
    json.dump({"access_token": token, "expires_on": _format(expires_on, args.expires_format)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
