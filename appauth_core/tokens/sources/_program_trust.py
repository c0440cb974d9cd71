"""Whether a program a developer source runs for a token (or the file that names it) may be trusted.

A program we run gets the app's environment and its output becomes the app's token, so whoever can put a
program there, or change it, runs code as the app. The rule is OpenSSH's for ``authorized_keys``
(``StrictModes``): the file, after links are followed, and every folder above it must be owned by root or
by the user this process runs as, and writable by nobody else. A folder writable by all but with the
sticky bit (``/tmp``) is allowed: there no one can rename or replace what another user put in it.

On Windows owners and modes are not what decides (ACLs are) and nothing is checked here: there the
Visual Studio source relies on the token service being under a Visual Studio install folder, which only
administrators can write to by default, and on ``%LOCALAPPDATA%`` being the user's own.
"""

from __future__ import annotations

import os
import stat


def untrusted_reason(path: str) -> str | None:
    """Why running (or reading) ``path`` could run someone else's code, or None when only this user or
    root could have put it there and changed it. ``path`` should exist (a missing one is a reason)."""
    if os.name == "nt":
        return None
    user = os.geteuid()
    current = os.path.realpath(path)
    while True:
        try:
            info = os.stat(current)
        except OSError as error:
            return f"{current} cannot be examined ({error.strerror or type(error).__name__})"
        problem = _problem(current, info, user)
        if problem is not None:
            return problem
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _problem(path: str, info: os.stat_result, user: int) -> str | None:
    if info.st_uid not in (0, user):
        return f"{path} is owned by user id {info.st_uid}, neither this user ({user}) nor root"
    sticky_folder = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky_folder:
        return f"{path} can be changed by other users (mode {stat.filemode(info.st_mode)})"
    return None
