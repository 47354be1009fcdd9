"""--format auto: which format (and, for access logs, which format string) reads the sample best.

Every candidate reads the same sample of the file's first non-blank lines and is scored by how
many of them it reads. The candidates are the access-log presets of both flavors (combined,
common, vhost_combined, main: each a different format string, so "looks like an access log" is
not enough: the one that *reads* the lines wins), the error logs, syslog, W3C and the
structured formats' sniffers. Ties are broken by

1. lines read strictly (a combined preset reads a ``main`` line only by taking the extra quoted
   field into the user agent, a lenient reading; ``main`` reads it strictly);
2. the escape style: a ``\\"`` inside a field is written by Apache (nginx writes ``\\x22``);
3. the number of fields (the more specific format string);
4. the registry order.

Nothing is chosen below half the sample: the caller refuses with every candidate's score, so the
user sees what was tried and passes --format / --log-format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from forensics.errors import UsageError
from forensics.formats import SNIFF_ORDER, get_format

ACCESS_FLAVORS: tuple[str, ...] = ("nginx", "apache")
PRESET_ORDER: tuple[str, ...] = ("combined", "common", "vhost_combined", "main")
MIN_SHARE = 0.5  # below this share of the sample read, nothing is chosen


@dataclass(frozen=True)
class Candidate:
    format: str  # registry name
    log_format: str | None  # preset name (or the user's string) for access logs, else None
    read: float  # sample lines read (a sniffer's confidence times the sample size for other formats)
    strict: float  # lines read without a lenient (raw-quote) reading
    fields: int = 0
    order: int = 0

    @property
    def label(self) -> str:
        return f"{self.format}/{self.log_format}" if self.log_format else self.format

    def key(self, apache_style: bool) -> tuple[float, float, int, int, int]:
        flavor_ok = int(self.format != ("nginx" if apache_style else "apache"))
        return (self.read, self.strict, flavor_ok, self.fields, -self.order)


@dataclass
class Detection:
    """The choice and the scores behind it (recorded in the manifest and the ingest report)."""

    sample_lines: int
    candidates: list[Candidate] = field(default_factory=list)
    chosen: Candidate | None = None

    def scores(self, top: int | None = None) -> str:
        ranked = sorted(self.candidates, key=lambda c: (-c.read, c.order))[:top]
        return ", ".join(f"{c.label} {_count(c.read)}/{self.sample_lines}" for c in ranked)

    def describe(self) -> str:
        if self.chosen is None:
            return f"no format reads the sample (lines read of {self.sample_lines}: {self.scores()})"
        return (
            f"--format auto chose {self.chosen.label}: it reads {_count(self.chosen.read)} of the first "
            f"{self.sample_lines} lines (others: {self.scores(4)})"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "chosen": self.chosen.label if self.chosen else None,
            "sample_lines": self.sample_lines,
            "scores": {c.label: round(c.read, 2) for c in self.candidates},
        }


def _count(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def access_candidates(sample: Sequence[str], log_format: str | None = None) -> list[Candidate]:
    """Every (flavor, preset) reading of the sample; with ``log_format`` only that string, per flavor."""
    from forensics.formats.accesslog import compile_log_format, slow_parse

    out: list[Candidate] = []
    presets = (log_format,) if log_format is not None else PRESET_ORDER
    errors: list[UsageError] = []
    for flavor in ACCESS_FLAVORS:
        for preset in presets:
            try:
                cf = compile_log_format(preset, flavor)
            except UsageError as exc:
                errors.append(exc)
                continue
            read = sum(1 for s in sample if isinstance(slow_parse(cf, s), dict))
            strict = sum(1 for s in sample if cf.strict_regex.match(s))
            out.append(Candidate(flavor, preset, read, strict, len(cf.fields), len(out)))
    if not out and errors:
        raise errors[0]
    return out


def other_candidates(sample: Sequence[str], start: int) -> list[Candidate]:
    """The formats that sniff (syslog, W3C, error logs, structured): confidence times the sample size."""
    out: list[Candidate] = []
    for k, name in enumerate(n for n in SNIFF_ORDER if n not in ACCESS_FLAVORS):
        score = get_format(name).sniff(list(sample)) * len(sample)
        out.append(Candidate(name, None, score, score, 0, start + k))
    return out


def detect(sample: Sequence[str], log_format: str | None = None) -> Detection:
    """Score every candidate on the sample and choose one (``chosen`` None when none reads half of it).

    With ``log_format`` the user named the format string: only the access-log flavors are tried
    and the better of them is chosen whatever its score (lines it does not read are quarantined)."""
    lines = [s for s in sample if s.strip()]
    detection = Detection(sample_lines=len(lines))
    if not lines:
        return detection
    detection.candidates = access_candidates(lines, log_format)
    if log_format is None:
        detection.candidates += other_candidates(lines, len(detection.candidates))
    apache_style = any('\\"' in s for s in lines)
    best = max(detection.candidates, key=lambda c: c.key(apache_style), default=None)
    if best is not None and (log_format is not None or best.read >= MIN_SHARE * len(lines)):
        detection.chosen = best
    return detection
