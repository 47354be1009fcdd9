"""Writing syslog lines (RFC 5424 and RFC 3164) that forensics.formats.syslog reads back to the same
fields: for fuzzing, tests and sample logs. Split from syslog.py to keep each module small."""

from __future__ import annotations

import re
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from forensics.errors import UsageError
from forensics.formats.syslog import _SEVERITY_WORDS, MONTHS

# ---------------------------------------------------------------- rendering (fuzzing, sample logs)

_PRINTUSASCII: Final[re.Pattern[str]] = re.compile(r"[\x21-\x7e]+")
_SD_NAME_FORBIDS: Final[str] = '=]"'


def _check(value: str, what: str, *, max_len: int, forbid: str = "") -> str:
    if not value or len(value) > max_len or not _PRINTUSASCII.fullmatch(value) or any(c in forbid for c in value):
        raise UsageError(
            f"syslog {what} {value!r} must be 1..{max_len} printable ASCII characters without spaces"
            + (f" or any of {forbid!r}" if forbid else "")
        )
    return value


def _check_msg(msg: str) -> str:
    if "\n" in msg or "\r" in msg:
        raise UsageError("a syslog message cannot hold a line break (the reader splits lines on it)")
    return msg


def _check_pri(pri: int) -> int:
    if not 0 <= pri <= 191:
        raise UsageError(f"syslog PRI {pri} must be 0..191 (facility * 8 + severity)")
    return pri


def _offset_text(ts: datetime) -> str:
    offset = ts.utcoffset()
    if offset is None:
        raise UsageError("syslog timestamps must be timezone-aware datetimes")
    total = int(offset.total_seconds())
    if total % 60:
        raise UsageError(f"UTC offset {offset} has seconds; RFC 3339 offsets are whole minutes")
    if total == 0:
        return "Z"
    sign = "+" if total > 0 else "-"
    hours, minutes = divmod(abs(total) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _rfc3339(ts: datetime) -> str:
    frac = f".{ts.microsecond:06d}" if ts.microsecond else ""
    return f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}{frac}" + (
        _offset_text(ts)
    )


def _escape_sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _render_sd(sd: AbcMapping[str, AbcMapping[str, str | Sequence[str]]] | None) -> str:
    if not sd:
        return "-"
    parts: list[str] = []
    for sd_id, params in sd.items():
        items = ["[" + _check(sd_id, "SD-ID", max_len=32, forbid=_SD_NAME_FORBIDS)]
        for name, value in params.items():
            _check(name, "SD-PARAM name", max_len=32, forbid=_SD_NAME_FORBIDS)
            for one in [value] if isinstance(value, str) else value:
                items.append(f'{name}="{_escape_sd_value(_check_msg(one))}"')
        parts.append(" ".join(items) + "]")
    return "".join(parts)


def render_rfc5424(
    ts: datetime,
    msg: str | None = None,
    *,
    hostname: str | None = None,
    app_name: str | None = None,
    procid: str | None = None,
    msgid: str | None = None,
    sd: AbcMapping[str, AbcMapping[str, str | Sequence[str]]] | None = None,
    pri: int = 13,
    version: int = 1,
) -> str:
    """One RFC 5424 line (no newline). ``ts`` must be timezone-aware; its offset is written
    (``Z`` for UTC) with microseconds when non-zero. None header fields become the NILVALUE
    ``-``. ``sd`` maps SD-ID -> {PARAM-NAME: value, or a list of values to repeat the param};
    values are escaped. ``msg`` None writes no MSG part. Raises UsageError for values RFC 5424
    cannot carry (spaces in header fields, line breaks anywhere, PRI outside 0..191).
    parse_lines reads the line back to the same fields, except that blanks at the start of MSG
    are not kept."""
    header = [
        f"<{_check_pri(pri)}>{version}",
        _rfc3339(ts),
        "-" if hostname is None else _check(hostname, "HOSTNAME", max_len=255),
        "-" if app_name is None else _check(app_name, "APP-NAME", max_len=48),
        "-" if procid is None else _check(procid, "PROCID", max_len=128),
        "-" if msgid is None else _check(msgid, "MSGID", max_len=32),
        _render_sd(sd),
    ]
    for name, value in (("HOSTNAME", hostname), ("APP-NAME", app_name), ("PROCID", procid), ("MSGID", msgid)):
        if value == "-":
            raise UsageError(f"syslog {name} '-' would read back as 'no value'; pass None")
    line = " ".join(header)
    return line if msg is None else f"{line} {_check_msg(msg)}"


def render_rfc3164(
    ts: datetime,
    msg: str,
    *,
    tag: str,
    hostname: str | None = None,
    pid: str | int | None = None,
    pri: int | None = None,
    iso_timestamp: bool = False,
) -> str:
    """One RFC 3164 line (no newline): ``[<PRI>]Mmm dd hh:mm:ss[.ffffff] [HOSTNAME] TAG[PID]: MSG``.

    The BSD timestamp is ``ts``'s wall clock in its own zone, which the line does not record
    (parse it back with ``--tz`` = that zone and year_hint = the year of the last line); the
    day is space-padded and microseconds are written only when non-zero. ``iso_timestamp``
    writes an RFC 3339 timestamp with offset instead (rsyslog's file format). ``hostname``
    None writes no hostname. Raises UsageError for values the syntax cannot carry. Blanks at
    the start of MSG are not kept by the parser.
    """
    if ts.utcoffset() is None:
        raise UsageError("syslog timestamps must be timezone-aware datetimes")
    if iso_timestamp:
        stamp = _rfc3339(ts)
    else:
        frac = f".{ts.microsecond:06d}" if ts.microsecond else ""
        stamp = f"{MONTHS[ts.month - 1]} {ts.day:2d} {ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}{frac}"
    parts = [("" if pri is None else f"<{_check_pri(pri)}>") + stamp]
    if hostname is not None:
        _check(hostname, "hostname", max_len=255)
        if hostname.endswith(":") or hostname.startswith("-") or "[" in hostname:
            raise UsageError(f"syslog hostname {hostname!r} would read back as a tag (no '[', leading '-', final ':')")
        if iso_timestamp and hostname in _SEVERITY_WORDS:
            raise UsageError(f"syslog hostname {hostname!r} would read back as a ChromeOS severity word")
        parts.append(hostname)
    _check(tag, "tag", max_len=255, forbid="[]:")
    label = tag if pid is None else f"{tag}[{_check(str(pid), 'pid', max_len=128, forbid=']')}]"
    parts.append(f"{label}:")
    line = " ".join(parts)
    return f"{line} {_check_msg(msg)}" if msg else line
