"""Reading a managed-identity host's reply: ``expires_on`` in every form the hosts send, the endpoint's own
words from an error reply in each host's shape, and ``Retry-After``."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import re
import time
from typing import Any

import requests

from ._redaction import redact

MAX_RETRY_AFTER = 60.0  # a Retry-After beyond the IMDS guidance's 60 s maximum back-off is capped
_MAX_DETAIL = 300  # characters of an endpoint's own error message kept in ours

# The 2017-09-01 date form, always month/day/year in the invariant culture (the .NET library parsed it
# culture-sensitively and broke under en-AU, issue #5976): "11/27/2026 01:02:03 AM +00:00" (Windows) or
# "06/20/2019 02:57:58 +00:00" (Linux, 24-hour clock).
_LEGACY_DATE = re.compile(
    r"^(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})\s+"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2}):(?P<second>\d{2})"
    r"(?:\s*(?P<ampm>[AaPp][Mm]))?"
    r"\s*(?P<sign>[+-])(?P<tzh>\d{2}):?(?P<tzm>\d{2})$"
)


def seconds_of(value: Any) -> float | None:
    """Seconds given as a JSON number or as a string of digits (IMDS sends every number as a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_expires_on(value: Any) -> float:
    """Epoch seconds from any host's ``expires_on``: a number, a string of digits, or the 2017-09-01 date
    forms. No locale is consulted (strptime's ``%p`` would). Raises ``ValueError`` for anything else."""
    number = seconds_of(value)
    if number is not None:
        return number
    match = _LEGACY_DATE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expires_on is neither epoch seconds nor a date like '06/20/2019 02:57:58 +00:00'")
    hour = int(match["hour"])
    if match["ampm"]:
        # 12-hour clock: 12 AM is midnight, 12 PM noon; the docs' sample "00:00:00 PM" is read as noon.
        hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    offset = dt.timedelta(hours=int(match["tzh"]), minutes=int(match["tzm"]))
    zone = dt.timezone(offset if match["sign"] == "+" else -offset)
    try:
        day = dt.date(int(match["year"]), int(match["month"]), int(match["day"]))
        moment = dt.time(hour, int(match["minute"]), int(match["second"]), tzinfo=zone)
    except ValueError as exc:  # 13/40/2019, 25:61:00 ...
        raise ValueError(f"expires_on is not a valid date ({exc})") from None
    return dt.datetime.combine(day, moment).timestamp()


def _endpoint_message(payload: Any) -> str | None:
    """The endpoint's own words from an error reply, in whichever host's shape it came:
    IMDS/Arc ``{"error", "error_description"}``, App Service ``{"statusCode", "message"}``,
    Service Fabric and Cloud Shell ``{"error": {"code", "message"}}``."""
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict):
        parts = [str(error.get(key)) for key in ("code", "message") if error.get(key)]
        return ": ".join(parts) or None
    parts = [str(p) for p in (error, payload.get("error_description") or payload.get("message")) if p]
    return ": ".join(parts) or None


def describe_reply(response: requests.Response, *secrets: str | None) -> str:
    """``503 (unknown: Service unavailable)``, or the body's type and size when it is not JSON (the body
    itself could be anything: a proxy's HTML page, binary garbage, half a token).

    ``secrets`` (the identity header, the Arc key) are redacted from the endpoint's words before they are
    shortened: afterwards, a secret cut in two would leave its first characters behind."""
    if not response.content:
        return f"{response.status_code} (empty body)"
    try:
        message = _endpoint_message(json.loads(response.content))
    except (ValueError, UnicodeDecodeError):
        content_type = response.headers.get("Content-Type") or "no content type"
        return f"{response.status_code} with a body that is not JSON ({content_type}, {len(response.content)} bytes)"
    if not message:
        return str(response.status_code)
    message = " ".join(redact(message, *secrets).split())
    if len(message) > _MAX_DETAIL:
        message = message[:_MAX_DETAIL] + "..."
    return f"{response.status_code} ({message})"


def retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    seconds = seconds_of(value)
    if seconds is None:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
