"""Personal-information masking for exhibits, by context, with keyed pseudonyms and a redaction log.

Two display contexts mirror the channels the court compares:

* ``ui``: the back-office style the platform itself shows (phone 138****1234, name 薛**, address cut after
  the district).
* ``waybill``: the express-waybill style of GB/T 41833 (at least 6 phone digits hidden, one name character
  hidden, the room number hidden).

Accounts, IP addresses and similar identifiers become keyed pseudonyms: HMAC-SHA256 under a per-case key kept
outside the case folder (per-user config folder, keyed by the case's identity, or --key-file), so the same
account gets the same pseudonym in every table of every exhibit of the case (rows still join) while nobody
without the key can reverse it. A copy of the case folder does not hand the key over.

Every replacement is recorded in a redaction log (where, what kind, which rule, the masked form). The masked
exhibit's log never holds an original value; the sealed (unmasked) exhibit's log does, so the court can map
each pseudonym back.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from forensics.errors import ForensicsError

Style = Literal["ui", "waybill"]

KEY_FILE = ".pseudonym_key"
_KEY_BYTES = 32

# Mainland mobile numbers in the forms people and programs write them: +86 / 0086 / 86 / %2B86 prefixes,
# separators (space, dot, dash, brackets, zero-width and bidi controls), letters glued on (tel13812345678,
# wx13912345678, 13912345678x). Detection runs on a copy where every decimal digit (full-width too) reads as
# ASCII, so positions match the original. A digit run longer than the number (order numbers, timestamps) is not a
# phone, and identifiers are not phone carriers (see _identifier_spans).
_SEP = "[\\s.\\-()/_\u00b7\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u3000]{0,3}"
PHONE_RE = re.compile(
    rf"(?<![0-9])(?:(?:%2[Bb]|\+|00)?86{_SEP})?\(?(1[3-9][0-9]{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}})(?![0-9])"
)
ID_CARD_RE = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9Xx](?![0-9])"
)
# The look-behind starts a match only where a run of local-part characters starts: without it every position of
# a long run is retried to its end (a 100 kB field took 27 s to mask; quadratic in the run's length).
EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
IPV6_RE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{1,4}(?![\w:])|(?<![\w:.])[0-9A-Fa-f:]*::(?![\w:])"
)
# Identifiers whose digit runs are never phones or ID cards: a run of >= 32 hex characters (MD5, SHA-1/256/512,
# SM3 digests, W3C trace ids, 32-hex request ids; a letter glued on does not change that) and a UUID.
# 32 because the shortest common digest is 32 hex characters; a shorter hex-looking word ("abc13812345678",
# "deadbeef13812345678") is how people glue letters to a number and stays a phone carrier, as do tel/wx prefixes.
_DIGEST_RE = re.compile(r"[0-9A-Fa-f]{32,}")
_UUID_RE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Za-z])")
# A street address: an administrative part (省/市/区/县), a road (路/街/道/巷/弄/村), a number (号), then building,
# unit and room.
_ADDR_CHARS = "[\u4e00-\u9fff0-9A-Za-z\\-#－]"
ADDRESS_RE = re.compile(
    rf"[\u4e00-\u9fff]{{0,12}}?(?:省|自治区|市|区|县){_ADDR_CHARS}{{0,30}}?(?:路|街|道|巷|弄|村|胡同)"
    rf"{_ADDR_CHARS}{{0,10}}?[0-9０-９]+\s*号{_ADDR_CHARS}{{0,24}}"
)


def _ascii_digits(text: str) -> str:
    """The same string, every decimal digit (full-width, Arabic-Indic...) as its ASCII digit: positions unchanged."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.digit(c)) if c.isdecimal() else c for c in text)


def _identifier_spans(probe: str) -> list[tuple[int, int]]:
    """Where digests and UUIDs stand in the (ASCII-digit) text: no phone or ID-card match may overlap them."""
    return [m.span() for m in _DIGEST_RE.finditer(probe)] + [m.span() for m in _UUID_RE.finditer(probe)]


def _sub_detected(text: str, pattern: re.Pattern[str], replace: Any) -> str:
    """Replace pattern's matches found on the ASCII-digit copy, leaving digits inside digests and UUIDs alone."""
    probe = _ascii_digits(text)
    identifiers = _identifier_spans(probe)
    out, last = [], 0
    for m in pattern.finditer(probe):
        if any(m.start() < b and a < m.end() for a, b in identifiers):
            continue
        out.append(text[last : m.start()])
        out.append(replace(_Span(text[m.start() : m.end()])))
        last = m.end()
    out.append(text[last:])
    return "".join(out)


@dataclass(frozen=True)
class _Span:
    text: str

    def group(self, _: int = 0) -> str:
        return self.text


def mask_id_card(number: str) -> str:
    """First and last character kept (a court still sees which province and the check digit's position)."""
    return number[0] + "*" * (len(number) - 2) + number[-1]


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return (local[:1] + "***@" + domain) if local else address


def name_pattern(name: str) -> re.Pattern[str]:
    """A known name however it is written: spaces or dots between characters, simplified or traditional."""
    import zhconv

    parts = []
    for char in name.strip():
        if char.isspace():
            continue
        variants = {
            char,
            zhconv.convert(char, "zh-hant"),
            zhconv.convert(char, "zh-hans"),
            zhconv.convert(char, "zh-tw"),
        }
        parts.append("(?:" + "|".join(re.escape(v) for v in sorted(variants)) + ")")
    return re.compile(_SEP.join(parts))


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
    # +86 / 86 / 0086 / %2B86 (URL-encoded +) country prefixes are not part of the subscriber number.
    if len(digits) > 11 and digits[:-11] in {"86", "0086", "286"}:
        digits = digits[-11:]
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


def load_or_create_key(folder: Path) -> bytes:
    """The key in folder/.pseudonym_key (the pre-0.x place inside the case), created on first use."""
    return load_or_create_key_file(folder / KEY_FILE)


def load_or_create_key_file(path: Path) -> bytes:
    """A pseudonym key file, created on first use with owner-only permissions."""
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs so pseudonyms agree
        except OSError as exc:
            raise ForensicsError(f"{path}: cannot create the pseudonym key ({exc}); check the folder") from exc
        else:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(_KEY_BYTES) + "\n")
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ForensicsError(f"{path}: cannot read the pseudonym key ({exc})") from exc
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ForensicsError(f"{path}:1: pseudonym key is not hex; restore it from backup") from exc
    if len(key) < 16:
        raise ForensicsError(f"{path}:1: pseudonym key is shorter than 16 bytes; restore it from backup")
    return key


def key_dir() -> Path:
    """Per-user folder of pseudonym keys: $FORENSICS_KEY_DIR, else $XDG_CONFIG_HOME/forensics/keys (~/.config)."""
    if os.environ.get("FORENSICS_KEY_DIR"):
        return Path(os.environ["FORENSICS_KEY_DIR"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "forensics" / "keys"


def case_id(custody: list[dict[str, Any]], case_root: Path) -> str:
    """A case's identity that survives copying the folder: the hash of its first custody entry (the init)."""
    first = custody[0].get("hash") if custody else None
    if isinstance(first, str) and first:
        return first[:32]
    return hashlib.sha256(str(case_root.resolve()).encode()).hexdigest()[:32]


def case_key(case_root: Path, ident: str, key_file: Path | None = None) -> tuple[bytes, str | None]:
    """The case's pseudonym key, kept outside the case folder so a copy of the case does not hand it over.

    Returns (key, note): note says when a key found in the old place (CASE/.pseudonym_key) was moved to the
    per-user folder, so pseudonyms of earlier exhibits stay the same.
    """
    target = key_file if key_file is not None else key_dir() / f"{ident}.key"
    legacy = case_root / KEY_FILE
    if not legacy.exists():
        return load_or_create_key_file(target), None
    old = load_or_create_key(case_root)
    if target.exists():
        if load_or_create_key_file(target) != old:
            raise ForensicsError(
                f"{legacy}: differs from the key in {target}; keep the one earlier exhibits were made with and "
                "remove the other"
            )
    else:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(old.hex() + "\n")
    legacy.unlink()
    return (
        old,
        f"moved the pseudonym key out of the case folder: {legacy} -> {target} (back it up; do not hand it over)",
    )


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
        """Free text (attrs JSON, user agents, remarks): detected wherever it stands, whatever the column.

        Known people's names (with spacing and traditional variants) and phones, then mobile numbers in any
        written form, ID-card numbers, e-mail addresses, street addresses, IPv4 and IPv6 addresses.
        """
        out = no_surrogates(value)
        for person in self.known:
            if person.phone and _digits(person.phone):
                out = self._replace_known_phone(where, out, person.phone, style)
            if person.name and len(person.name.strip()) >= 2:
                out = self._known_names(where, out, person.name, style)
        out = _sub_detected(out, PHONE_RE, lambda m: self.phone(where, m.group(0), style))
        out = _sub_detected(
            out, ID_CARD_RE, lambda m: self._record(where, "id_card", "id-card", m.group(0), mask_id_card(m.group(0)))
        )
        out = EMAIL_RE.sub(lambda m: self._record(where, "email", "email", m.group(0), mask_email(m.group(0))), out)
        out = ADDRESS_RE.sub(lambda m: self.address(where, m.group(0), style), out)
        out = IPV4_RE.sub(lambda m: self.pseudonym(where, "ip", m.group(1)), out)
        out = IPV6_RE.sub(lambda m: self._ipv6(where, m.group(0)), out)
        return out

    def _known_names(self, where: str, text: str, name: str, style: Style) -> str:
        return name_pattern(name).sub(lambda m: self._known_name(where, m.group(0), name, style), text)

    def _known_name(self, where: str, written: str, name: str, style: Style) -> str:
        # A spaced or traditional writing is shown as the masked canonical name: no character of it survives.
        return self._record(where, "name", f"{style}-name", written, mask_name(name, style))

    def _ipv6(self, where: str, candidate: str) -> str:
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            return candidate  # a time or a C++ name, not an address
        return self.pseudonym(where, "ip", str(address))

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
