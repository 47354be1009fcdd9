"""Personal-information masking for exhibits, by context, with keyed pseudonyms and a redaction log.

Two display contexts mirror the channels the court compares:

* ``ui``: the back-office style the platform itself shows (phone 138****1234, name 薛**, address cut after
  the district).
* ``waybill``: the express-waybill style of GB/T 41833 (at least 6 phone digits hidden, one name character
  hidden, the room number hidden).

Accounts, IP addresses and similar identifiers become keyed pseudonyms: HMAC-SHA256 under a per-case key kept
in CASE/.pseudonym_key, so the same account gets the same pseudonym in every table of every exhibit of the case
(rows still join) while nobody without the key can reverse it. The key never leaves the case folder.

Every replacement is recorded in a redaction log (where, what kind, which rule, the masked form). The masked
exhibit's log never holds an original value; the sealed (unmasked) exhibit's log does, so the court can map
each pseudonym back.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from forensics.errors import ForensicsError

Style = Literal["ui", "waybill"]

KEY_FILE = ".pseudonym_key"
_KEY_BYTES = 32

# Mainland mobile numbers, optionally with +86 and separators; bounded by non-alphanumerics so digits inside
# hashes, order numbers and timestamps are never taken for a phone number.
PHONE_RE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[- ]?)?(1[3-9]\d[- ]?\d{4}[- ]?\d{4})(?![0-9A-Za-z])")
# IPv4 not embedded in a version string such as Chrome/120.0.1.2 (preceded by '/' or '.') or a longer number.
IPV4_RE = re.compile(
    r"(?<![\w./])((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})(?![\w.])"
)

# Column names -> how their values are masked. Names are the canonical schema's and the pack outputs'.
PHONE_COLUMNS = frozenset({"receiver_phone", "phone", "mobile", "buyer_phone", "telephone", "tel"})
NAME_COLUMNS = frozenset({"receiver_name", "buyer_name", "name", "party_name"})
ADDRESS_COLUMNS = frozenset({"receiver_address", "address", "buyer_address"})
PSEUDONYM_COLUMNS: dict[str, str] = {
    "actor_id": "acct",
    "account": "acct",
    "user_id": "acct",
    "operator": "acct",
    "alipay_account": "alipay",
    "buyer_nickname": "nick",
    "ip": "ip",
    "client_ip": "ip",
    "remote_addr": "ip",
}


# --- single values ----------------------------------------------------------------------------------------


def _digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    # A +86 / 86 country prefix is not part of the subscriber number.
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def mask_phone(phone: str, style: Style = "ui") -> str:
    """ui: keep the first 3 and last 4 digits (138****1234); waybill: hide at least 6 digits (138******34)."""
    digits = _digits(phone)
    n = len(digits)
    if n == 0:
        return phone
    if style == "ui":
        keep_head, keep_tail = (3, 4) if n >= 9 else (0, min(2, n // 3))
    else:
        hidden = max(6, n - 5)
        if hidden >= n:
            return "*" * n
        keep_head = min(3, n - hidden)
        keep_tail = n - hidden - keep_head
    tail = digits[n - keep_tail :] if keep_tail else ""
    return digits[:keep_head] + "*" * (n - keep_head - keep_tail) + tail


def mask_name(name: str, style: Style = "ui") -> str:
    """ui: keep the first character (薛**); waybill: hide one character, the second (薛*, 欧*明)."""
    text = name.strip()
    if not text:
        return name
    if " " in text:  # Latin names: mask word by word so "Jane Doe" -> "J*** D**"
        return " ".join(mask_name(part, style) for part in text.split())
    if len(text) == 1:
        return "*"
    if style == "ui":
        return text[0] + "*" * (len(text) - 1)
    return text[0] + "*" + text[2:]


# The district (区/县/旗) is kept; failing that the city (市). Searched within the first 20 characters only.
_DISTRICT_RE = re.compile(r"^.{1,19}?(?:区|县|旗)")
_CITY_RE = re.compile(r"^.{1,19}?市")
_ROOM_RES = (
    re.compile(r"(\d+|[A-Za-z]?\d+[A-Za-z]?|[一二三四五六七八九十零〇]+)(\s*)(室|房|户|号房)"),
    re.compile(r"(?<=\d-)(\d+)(\s*)($)"),  # 3-2-502 (building-unit-room)
    re.compile(r"(?i)(?<=room )(\w+)(\s*)()"),
    re.compile(r"(?i)(?<=apt )(\w+)(\s*)()"),
    re.compile(r"(?<=#)(\w+)(\s*)()"),
)


def mask_address(address: str, style: Style = "ui") -> str:
    """ui: keep up to the district, hide the rest; waybill: hide the room number (the last number if none)."""
    if not address.strip():
        return address
    if style == "ui":
        match = _DISTRICT_RE.match(address) or _CITY_RE.match(address)
        head = match.group(0) if match else address[: min(6, len(address) // 2)]
        return head + "****"
    for pattern in _ROOM_RES:
        if pattern.search(address):
            return pattern.sub(lambda m: "*" * max(2, len(m.group(1))) + m.group(2) + m.group(3), address, count=1)
    last_number = list(re.finditer(r"\d+", address))
    if not last_number:
        return address
    m = last_number[-1]
    return address[: m.start()] + "*" * max(2, len(m.group(0))) + address[m.end() :]


def no_surrogates(value: str) -> str:
    """A lone surrogate cannot be written as UTF-8 (exhibit.json): it is kept as its visible escape ⟨U+D800⟩."""
    if not _SURROGATE_RE.search(value):
        return value
    return _SURROGATE_RE.sub(lambda m: f"⟨U+{ord(m.group(0)):04X}⟩", value)


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


# --- keyed pseudonyms -------------------------------------------------------------------------------------


def load_or_create_key(case_root: Path) -> bytes:
    """The per-case pseudonym key (CASE/.pseudonym_key), created on first use with owner-only permissions."""
    path = case_root / KEY_FILE
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs so pseudonyms agree
        except OSError as exc:
            raise ForensicsError(f"{path}: cannot create the pseudonym key ({exc}); check the case folder") from exc
        else:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(_KEY_BYTES) + "\n")
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ForensicsError(f"{path}:1: pseudonym key is not hex; restore it from backup") from exc
    if len(key) < 16:
        raise ForensicsError(f"{path}:1: pseudonym key is shorter than 16 bytes; restore it from backup")
    return key


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """kind-XXXXXXXXXX: the first 40 bits of HMAC-SHA256(key, kind NUL value). Same input, same pseudonym."""
    digest = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}-{digest[:10]}"


# --- the masker: context rules + log ----------------------------------------------------------------------


@dataclass(frozen=True)
class KnownPerson:
    """A person named in case.toml whose name and phone must not appear anywhere in a masked exhibit."""

    role: str
    name: str = ""
    phone: str = ""


@dataclass
class Redaction:
    where: str  # e.g. "checks/waybill-print/row 1/ip"
    kind: str  # phone | name | address | pseudonym:acct | ...
    rule: str  # ui-phone | waybill-phone | ... | hmac-sha256
    masked: str
    original: str | None = None  # only kept in a sealed (unmasked) exhibit

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"where": self.where, "kind": self.kind, "rule": self.rule, "masked": self.masked}
        if self.original is not None:
            out["original"] = self.original
        return out


@dataclass
class Masker:
    """Applies the context rules. enabled=False (sealed exhibit) keeps originals but still logs every site."""

    key: bytes
    known: tuple[KnownPerson, ...] = ()
    enabled: bool = True
    log: list[Redaction] = field(default_factory=list)

    def _record(self, where: str, kind: str, rule: str, original: str, masked: str) -> str:
        self.log.append(Redaction(where, kind, rule, masked, None if self.enabled else original))
        return masked if self.enabled else original

    def phone(self, where: str, value: str, style: Style = "ui") -> str:
        return self._record(where, "phone", f"{style}-phone", value, mask_phone(value, style))

    def name(self, where: str, value: str, style: Style = "ui") -> str:
        return self._record(where, "name", f"{style}-name", value, mask_name(value, style))

    def address(self, where: str, value: str, style: Style = "ui") -> str:
        return self._record(where, "address", f"{style}-address", value, mask_address(value, style))

    def pseudonym(self, where: str, kind: str, value: str) -> str:
        return self._record(where, f"pseudonym:{kind}", "hmac-sha256", value, pseudonym(self.key, kind, value))

    def cell(self, where: str, column: str, value: Any, style: Style = "ui") -> Any:
        """Mask one table cell by its column's meaning; other strings get the free-text scrub."""
        if isinstance(value, list):
            return [self.cell(f"{where}[{i}]", column, v, style) for i, v in enumerate(value)]
        if not isinstance(value, str) or not value:
            return value
        value = no_surrogates(value)
        col = column.lower()
        if col in PHONE_COLUMNS:
            return self.phone(where, value, style)
        if col in NAME_COLUMNS:
            return self.name(where, value, style)
        if col in ADDRESS_COLUMNS:
            return self.address(where, value, style)
        if col in PSEUDONYM_COLUMNS:
            return self.pseudonym(where, PSEUDONYM_COLUMNS[col], value)
        return self.text(where, value, style)

    def text(self, where: str, value: str, style: Style = "ui") -> str:
        """Free text (attrs JSON, user agents, captions): known people, phone numbers and IPv4 addresses."""
        out = no_surrogates(value)
        for person in self.known:
            if person.phone and _digits(person.phone):
                out = self._replace_known_phone(where, out, person.phone, style)
            if person.name and len(person.name.strip()) >= 2 and person.name in out:
                masked = self.name(where, person.name, style)
                out = out.replace(person.name, masked)
        out = PHONE_RE.sub(lambda m: self.phone(where, m.group(0), style), out)
        out = IPV4_RE.sub(lambda m: self.pseudonym(where, "ip", m.group(1)), out)
        return out

    def _replace_known_phone(self, where: str, text: str, phone: str, style: Style) -> str:
        # The known number may be written with separators or a country code the generic pattern misses, or run
        # into other digits; its 11 digits in a row are masked wherever they stand (a coincidence is vanishingly
        # rare, a leak is not).
        digits = _digits(phone)
        loose = r"(?:\+?86[- ]?)?" + r"[- ]?".join(re.escape(d) for d in digits)
        return re.sub(loose, lambda m: self.phone(where, m.group(0), style), text)

    def walk(self, where: str, value: Any, style: Style = "ui") -> Any:
        """Scrub every string in a JSON-like structure (the safety net over the whole exhibit model)."""
        if isinstance(value, str):
            return self.text(where, value, style)
        if isinstance(value, list):
            return [self.walk(f"{where}[{i}]", v, style) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.walk(f"{where}/{k}", v, style) for k, v in value.items()}
        return value

    def summary(self) -> list[dict[str, Any]]:
        """Counts per section and rule, for the document (the full log goes into exhibit.json)."""
        counts: dict[tuple[str, str, str], int] = {}
        for r in self.log:
            section = r.where.split("/", 1)[0]
            key = (section, r.kind, r.rule)
            counts[key] = counts.get(key, 0) + 1
        return [{"section": s, "kind": k, "rule": rule, "count": n} for (s, k, rule), n in sorted(counts.items())]


def known_people(parties: Iterable[dict[str, Any]]) -> tuple[KnownPerson, ...]:
    """The [[parties]] of case.toml that are natural persons: the plaintiff, anyone with a phone, or type=person.

    An organisation (type = "organization", or a defendant without a phone) keeps its name: it is not
    personal information and the court needs it.
    """
    people = []
    for party in parties:
        name = str(party.get("name") or "")
        phone = str(party.get("phone") or "")
        kind = str(party.get("type") or "")
        role = str(party.get("role") or "")
        is_person = kind == "person" or (kind != "organization" and (bool(phone) or role == "plaintiff"))
        if is_person and (name or phone):
            people.append(KnownPerson(role=role, name=name, phone=phone))
    return tuple(people)
