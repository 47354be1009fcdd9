"""file -> format -> canonical batches -> case store, with the accounting invariant.

For every input: lines = events + quarantined + blank + structural (line formats) or
records = events + quarantined (document formats). A violation aborts the input before
anything reaches the case. A file whose SHA-256 is already in the case is skipped and said so.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import shutil
import signal
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from forensics.case import Case, case_lock, refresh_catalog, run_staging
from forensics.duplicates import add_content, content_sha256, known_contents
from forensics.errors import ForensicsError, UsageError
from forensics.formats import format_names, get_format
from forensics.formats.base import Format, FormatOptions, ParseError, ParseResult
from forensics.formats.detect import Detection, detect
from forensics.mapping_lookups import collecting_unknown, unknown_warning
from forensics.quarantine_report import DEFAULT_MAX_QUARANTINE_RATIO, quarantine_warning, top_reasons
from forensics.reader import (
    BLOCK_SIZE,
    MAX_LINE_BYTES,
    LineBlock,
    ReadStats,
    check_encoding,
    detect_compression,
    iter_line_blocks,
    read_document,
    require_regular_file,
)
from forensics.seal import (
    MerkleBuilder,
    append_custody,
    hash_file,
    manifest_seal,
    now_iso,
    packed_digests,
    read_custody,
    sha256_file,
    with_row_digests,
    write_manifest,
)
from forensics.store import Stager, conform_events
from forensics.timeparse import LocalOrder

NEEDS_MAPPING = frozenset({"jsonl", "json", "csv", "tsv"})  # field names differ per platform: no default
SOURCE_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
Progress = Callable[[str, int, int], None]  # (path, bytes done, bytes total)


@dataclass(frozen=True)
class IngestOptions:
    source: str | None = None
    format: str = "auto"
    log_format: str | None = None
    mapping: Path | None = None
    tz: str | None = None
    encoding: str = "auto"
    preserve: bool = False
    strict: bool = False
    year: int | None = None  # syslog RFC 3164 year of the file's last record (default: file mtime year)
    max_quarantine_ratio: float = DEFAULT_MAX_QUARANTINE_RATIO  # above it (or all quarantined) a file warns
    progress: Progress | None = None
    max_line_bytes: int = MAX_LINE_BYTES  # a longer line is quarantined, never held whole


@dataclass
class FileReport:
    path: str
    source: str
    format: str
    sha256: str
    sm3: str
    bytes: int
    lines: int
    events: int
    quarantined: int
    blank: int
    structural: int = 0
    records: int = 0
    skipped_duplicate: bool = False
    warnings: list[str] = field(default_factory=list)  # e.g. most lines quarantined: wrong format?
    duplicate_of: dict[str, str] | None = None  # the earlier input (path, sha256) with the same (decompressed) content
    log_format: str | None = None  # the access-log format string or preset the file was read with
    detection: str | None = None  # --format auto: what was chosen and why (one sentence)
    # raw values a mapping's [actions]/[actor_types] table did not list: {table: {records, values}}
    unknown_values: dict[str, Any] = field(default_factory=dict)


@dataclass
class IngestReport:
    case: str
    files: list[FileReport] = field(default_factory=list)
    notice: str | None = None  # e.g. a crashed run's lock was taken over

    @property
    def events(self) -> int:
        return sum(f.events for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    def identity_holds(self) -> bool:
        """lines = events + quarantined + blank + structural for every line-format file ingested (not skipped).

        Document formats (one JSON document) have records rather than lines, so they are not held to it."""
        return all(
            f.lines == f.events + f.quarantined + f.blank + f.structural
            for f in self.files
            if not f.skipped_duplicate and not _is_document(f.format)
        )

    def to_json(self) -> dict[str, Any]:
        keys = ("path", "source", "format", "sha256", "sm3", "bytes", "lines", "events", "quarantined", "blank")
        files = [
            {k: getattr(f, k) for k in keys}
            | {"structural": f.structural, "skipped_duplicate": f.skipped_duplicate, "duplicate_of": f.duplicate_of}
            | {"warnings": f.warnings, "log_format": f.log_format, "detection": f.detection}
            | {"unknown_values": f.unknown_values}
            for f in self.files
        ]
        return {"case": self.case, "files": files, "events": self.events, "quarantined": self.quarantined}


def _is_document(fmt: str) -> bool:
    """A format parsed as one document (JSON array, CloudTrail): it has records, not lines."""
    try:
        return get_format(fmt).kind == "document"
    except UsageError:
        return False


# ---------------------------------------------------------------- entry points


Job = tuple[Path, IngestOptions]


def ingest_paths(case: Case, paths: list[Path], options: IngestOptions) -> IngestReport:
    return _ingest_jobs(case, *paths_request(paths, options))


def ingest_plan(case: Case, plan_path: Path, options: IngestOptions) -> IngestReport:
    return _ingest_jobs(case, *plan_request(plan_path, options))


def paths_request(paths: list[Path], options: IngestOptions) -> tuple[list[Job], dict[str, Any]]:
    """The files to ingest for `ingest CASE PATH...` and the command the custody log records."""
    jobs = [(p, options) for p in _expand(paths)]
    return jobs, {"paths": [str(p) for p in paths], "options": _options_json(options)}


def plan_request(plan_path: Path, options: IngestOptions) -> tuple[list[Job], dict[str, Any]]:
    """The files to ingest for `ingest CASE --plan FILE` and the command the custody log records."""
    jobs = plan_jobs(plan_path, options)
    return jobs, {"plan": str(plan_path), "plan_sha256": hash_file(plan_path).sha256}


def plan_jobs(plan_path: Path, base: IngestOptions) -> list[tuple[Path, IngestOptions]]:
    """Expand an ingest plan (TOML, [[input]] tables) into (file, options) jobs."""
    try:
        plan = tomllib.loads(plan_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{plan_path}: cannot read plan: {exc}") from exc
    entries = plan.get("input")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{plan_path}: a plan needs at least one [[input]] table with a glob")
    known: dict[str, type] = {
        "glob": str,
        "source": str,
        "format": str,
        "log_format": str,
        "mapping": str,
        "tz": str,
        "encoding": str,
        "year": int,
        "preserve": bool,
    }
    jobs: list[tuple[Path, IngestOptions]] = []
    for n, entry in enumerate(entries, 1):
        where = f"{plan_path}: [[input]] #{n}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: each input must be a table ([[input]] with glob = ...)")
        for key, kind in known.items():
            if key in entry and (not isinstance(entry[key], kind) or (kind is int and isinstance(entry[key], bool))):
                raise UsageError(f"{where}: {key} must be a {kind.__name__} (got {entry[key]!r})")
        unknown = set(entry) - set(known)
        if unknown:
            raise UsageError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        if "glob" not in entry:
            raise UsageError(f"{where}: missing 'glob'")
        pattern = str(plan_path.parent / entry["glob"])
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not files:
            raise UsageError(f"{where}: glob {entry['glob']!r} matches no file")
        if plan.get("allow_outside") is not True:
            _confine(files, plan_path, where, entry["glob"])
        opts = replace(
            base,
            source=entry.get("source", base.source),
            format=entry.get("format", base.format if base.format != "auto" else "auto"),
            log_format=entry.get("log_format", base.log_format),
            mapping=(plan_path.parent / entry["mapping"]) if "mapping" in entry else base.mapping,
            tz=entry.get("tz", base.tz),
            encoding=entry.get("encoding", base.encoding),
            year=entry.get("year", base.year),
            preserve=bool(entry.get("preserve", base.preserve)),
        )
        jobs.extend((f, opts) for f in files)
    return jobs


def _confine(files: list[Path], plan_path: Path, where: str, pattern: str) -> None:
    """A plan reads only below its own folder: a shared plan must not pull /etc/passwd or ~/.ssh into a case."""
    home = plan_path.parent.resolve()
    for f in files:
        if not f.resolve().is_relative_to(home):
            raise UsageError(
                f"{where}: glob {pattern!r} reaches {f}, outside the plan's folder {home}; "
                "move the logs below the plan or set allow_outside = true at the top of the plan"
            )


# ---------------------------------------------------------------- orchestration


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file()))
        elif p.exists():
            out.append(p)
        else:
            raise UsageError(f"{p}: no such file")
    return out


# Many small files (rotated logs) are sealed together, at most this many seconds apart, so the
# manifest is rewritten a bounded number of times per minute instead of once per file (which made
# ingesting thousands of files quadratic). A large file still seals on its own as soon as it is done.
SEAL_EVERY_SECONDS = 5.0


@dataclass
class Stored:
    """One input parsed and staged, waiting to be moved into the case and sealed (picklable: a Spark
    task returns it to the driver)."""

    entry: dict[str, Any]
    stager: Stager


def _ingest_jobs(case: Case, jobs: list[tuple[Path, IngestOptions]], command: dict[str, Any]) -> IngestReport:
    """Ingest file by file under the case lock (one writer at a time)."""

    def stage(run: RunState) -> Iterator[tuple[FileReport, Stored | None]]:
        # lazily, one file at a time: each file sees the duplicates of the files sealed or staged before it
        for path, opts in jobs:
            yield ingest_file(
                case, path, opts, run.known, run.contents, staging=run.staging, generations=run.generations
            )

    return ingest_staged(case, command, stage)


@dataclass
class RunState:
    """What a run knows about the case while it ingests: updated after every file staged."""

    known: set[str]  # raw SHA-256 of live inputs (sealed, or staged earlier in this run)
    generations: dict[str, int]  # how often each SHA-256 was ingested before
    contents: dict[str, dict[str, str]]  # raw and decompressed SHA-256 -> the input it identifies
    staging: Path  # this run's staging folder


Stage = Callable[[RunState], Iterator[tuple["FileReport", "Stored | None"]]]


def ingest_staged(case: Case, command: dict[str, Any], stage: Stage) -> IngestReport:
    """Seal what `stage` parses and stages, under the case lock (one writer at a time).

    The local engine stages file by file in this process; the Spark engine (forensics.engines.spark_ingest)
    stages on Spark tasks: both seal here, with the same manifest and custody entries."""
    with case_lock(case, "ingest") as lock:
        report = _ingest_locked(case, stage, command)
        report.notice = lock.notice
        return report


def _run_state(case: Case, manifest: dict[str, Any]) -> RunState:
    # a retracted input may be ingested again (with other options): only live inputs are duplicates
    known = {i["sha256"] for i in manifest.get("inputs", []) if not i.get("retracted")}
    generations: dict[str, int] = {}
    for item in manifest.get("inputs", []):
        sha = str(item.get("sha256"))
        generations[sha] = max(generations.get(sha, 0), int(item.get("generation", 1)))
    return RunState(known, generations, known_contents(manifest.get("inputs", [])), run_staging(case))


def _ingest_locked(case: Case, stage: Stage, command: dict[str, Any]) -> IngestReport:
    """Ingest file by file; seal stored files (move into place, manifest, one custody entry) in batches.

    A failure or Ctrl-C later in the list still seals every file completed before it (the `finally`),
    so the case holds exactly the files reported done; the file in progress leaves nothing behind."""
    report = IngestReport(case=str(case.root))
    read_custody(case)  # a damaged custody log stops the ingest before anything is stored
    manifest = case.manifest()
    run = _run_state(case, manifest)
    staging = run.staging
    batch: list[Stored] = []
    last_seal = time.monotonic()
    sealer = _Sealer(case, manifest, command)
    try:
        for file_report, stored in stage(run):
            report.files.append(file_report)
            if stored is None:
                continue
            run.known.add(stored.entry["sha256"])
            run.generations[stored.entry["sha256"]] = int(stored.entry.get("generation", 1))
            add_content(run.contents, stored.entry)
            batch.append(stored)
            if time.monotonic() - last_seal >= SEAL_EVERY_SECONDS:
                sealer.seal(batch)  # empties batch
                last_seal = time.monotonic()
    finally:
        try:
            sealer.seal(batch)  # what finished before a failure or Ctrl-C; seal() always empties batch
        finally:
            with _interrupts_held():
                # anything still staged (a file interrupted between parsing and its batch) is not sealed
                shutil.rmtree(staging, ignore_errors=True)
                with contextlib.suppress(OSError):
                    staging.parent.rmdir()  # only when empty
    return report


@dataclass
class _Sealer:
    """Moves staged files into the case and seals them: manifest rewritten, one custody entry per batch.

    A seal is all or nothing: Ctrl-C is held back until it is done, and if moving a file, writing the
    manifest or appending the custody entry fails, the files go back to staging and the manifest is
    restored, so the case never holds a Parquet file its manifest does not list. The first entry of a
    run records the command (its paths can be thousands of shell-expanded files); later entries of
    the same run point back to it instead of repeating it."""

    case: Case
    manifest: dict[str, Any]
    command: dict[str, Any]
    first_seq: int | None = None

    def seal(self, batch: list[Stored]) -> None:
        """Seal the batch and empty it, whether the seal succeeds or fails: either way there is
        nothing left to seal (a failed seal's files are dropped), so a caller's retry is a no-op."""
        if not batch:
            return
        stagers = [stored.stager for stored in batch]
        try:
            with _interrupts_held():
                self._seal_all_or_nothing(batch)
        finally:
            batch.clear()
            for stager in stagers:
                stager.discard()  # staging folders: empty after a seal, dropped after a failed one

    def _seal_all_or_nothing(self, batch: list[Stored]) -> None:
        inputs_before = len(self.manifest.get("inputs", []))
        outputs_before = len(self.manifest.get("outputs", []))
        manifest_before = self.case.manifest_path.read_bytes() if self.case.manifest_path.exists() else None
        custody_size = self.case.custody_path.stat().st_size if self.case.custody_path.exists() else 0
        committed: list[Stored] = []
        try:
            for stored in batch:
                outputs = stored.stager.commit()
                committed.append(stored)
                self.manifest.setdefault("inputs", []).append(stored.entry)
                self.manifest.setdefault("outputs", []).extend(outputs)
            write_manifest(self.case, self.manifest)
            self._append_custody(batch)
            refresh_catalog(self.case)
        except BaseException:
            for stored in reversed(committed):
                stored.stager.uncommit()
            del self.manifest.setdefault("inputs", [])[inputs_before:]
            del self.manifest.setdefault("outputs", [])[outputs_before:]
            if manifest_before is not None:
                _restore(self.case.manifest_path, manifest_before)
            if self.case.custody_path.exists() and self.case.custody_path.stat().st_size > custody_size:
                # an entry (or half of one, on a full disk) was appended for this batch: take it back,
                # so the log ends with the entry that seals the restored manifest
                os.truncate(self.case.custody_path, custody_size)
            raise

    def _append_custody(self, batch: list[Stored]) -> None:
        inputs = [{k: s.entry[k] for k in ("path", "sha256", "sm3", "events", "quarantined")} for s in batch]
        if self.first_seq is None:
            details, command_line = dict(self.command), None
        else:
            details = {"continues_seq": self.first_seq}
            command_line = f"(the command of custody entry {self.first_seq}, continued)"
        details |= {"inputs": inputs, "manifest_sha256": manifest_seal(self.manifest)}
        entry = append_custody(self.case, "ingest", details, command_line=command_line)
        if self.first_seq is None:
            self.first_seq = int(entry["seq"])


def _restore(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".restore")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block is done, then raise it: sealing is not cut in half."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except ValueError:  # not in the main interpreter thread after all
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def ingest_file(
    case: Case,
    path: Path,
    options: IngestOptions,
    known: set[str],
    contents: dict[str, dict[str, str]] | None = None,
    *,
    staging: Path | None = None,
    generations: dict[str, int] | None = None,
) -> tuple[FileReport, Stored | None]:
    """Parse and stage one file. Returns its report and (unless a duplicate) what _seal needs.

    A duplicate is the same bytes (raw SHA-256) or the same content packed differently (SHA-256 of the
    decompressed stream, `contents`): ingesting it again would count every event twice.
    generations: how often each SHA-256 was ingested before (a retracted input ingested again is
    generation 2, its Parquet files get new names so the retracted ones stay as sealed)."""
    check_encoding(options.encoding)  # a usage error before anything is read
    require_regular_file(path)  # a device or FIFO would hang the hash pass forever
    try:
        pre_sha256 = sha256_file(path)  # first pass: identity (and duplicate detection) before any parsing
    except OSError as exc:
        raise ForensicsError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    mapping = _load_mapping(options.mapping)
    if mapping is None and options.format == "cloudtrail":
        from forensics.formats.structured import builtin_cloudtrail_mapping

        mapping = builtin_cloudtrail_mapping()  # recorded in the manifest like a user's mapping
    source = _source_name(options, mapping, path)
    contents = contents if contents is not None else {}
    earlier = contents.get(pre_sha256)
    if earlier is None and pre_sha256 not in known:
        try:
            earlier = contents.get(content_sha256(path, pre_sha256))
        except OSError as exc:
            raise ForensicsError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if pre_sha256 in known or earlier is not None:
        return duplicate_report(path, source, duplicate_format(options, mapping), pre_sha256, earlier), None
    resolved = _resolve_format(path, options, mapping)
    fmt = resolved.format
    if mapping is None and fmt.name in NEEDS_MAPPING:  # the user's options are incomplete: a usage error
        raise UsageError(f"{path}: format {fmt.name} needs --mapping FILE (see mappings/ for examples)")
    fmt_opts = FormatOptions(
        source=source,
        path=str(path),
        log_format=resolved.log_format,
        mapping=mapping,
        tz=_zone(options.tz, mapping),
        year_hint=options.year or _year_limit(path).year,
        year_limit=None if options.year else _year_limit(path),
    )
    try:
        parser = fmt.parser(fmt_opts)
    except ParseError as exc:
        raise ForensicsError(str(exc)) from exc
    generation = (generations or {}).get(pre_sha256, 0) + 1
    stager = Stager(case.root, pre_sha256, source, staging_root=staging, generation=generation)
    try:
        with collecting_unknown() as tally:  # raw values no lookup table of the mapping lists
            counts, stats, merkle, structural = _run_parser(fmt, parser, path, options, stager, pre_sha256, source)
        if stats.raw.sha256 != pre_sha256:
            raise ForensicsError(f"{path}: file changed while it was being ingested (SHA-256 differs); try again")
        entry = _input_entry(path, source, fmt.name, options, mapping, stats, counts, merkle)
        entry["log_format"] = resolved.log_format
        if resolved.detection is not None:
            entry["format_detection"] = resolved.detection.to_json()
        entry["structural_sample"] = structural
        entry["year_hint"] = fmt_opts.year_hint  # what a re-parse (verify --reparse) must use again
        if options.max_line_bytes != MAX_LINE_BYTES:  # so must this: it decides which lines are quarantined
            entry["max_line_bytes"] = options.max_line_bytes
        if generation > 1:
            entry["generation"] = generation
        if mapping is not None and options.mapping is not None:
            entry["mapping_copy"] = _preserve_mapping(case, options.mapping, mapping.sha256)
        entry["warnings"] = _quarantine_warnings(path, fmt.name, counts, stager, options, mapping is not None)
        unknown = tally.to_json()
        if unknown:  # only then: manifests of mappings without tables keep their exact shape
            entry["unknown_values"] = unknown
            defaults = {lookup.table: lookup.default for lookup in mapping.lookups} if mapping else {}
            entry["warnings"].append(unknown_warning(str(path), unknown, defaults))
        if options.preserve:
            entry["preserved_copy"] = _preserve(case, path, pre_sha256)
    except BaseException:
        stager.discard()
        raise
    report = FileReport(
        path=str(path),
        source=source,
        format=fmt.name,
        sha256=pre_sha256,
        sm3=stats.raw.sm3,
        bytes=stats.raw.size,
        lines=stats.lines,
        events=counts["events"],
        quarantined=counts["quarantined"],
        blank=counts["blank"],
        structural=counts["structural"],
        records=counts["records"],
        warnings=list(entry["warnings"]),
        log_format=resolved.log_format,
        detection=resolved.detection.describe() if resolved.detection else None,
        unknown_values=unknown,
    )
    return report, Stored(entry, stager)


def duplicate_format(options: IngestOptions, mapping: Any) -> str:
    """The format a skipped duplicate is reported with (it is never parsed: no detection)."""
    return options.format if options.format != "auto" else (mapping.format if mapping else "auto")


def duplicate_report(path: Path, source: str, fmt_name: str, sha256: str, earlier: dict[str, str] | None) -> FileReport:
    """The report of a file skipped because the case (or this run) already holds its content."""
    sm3 = hash_file(path).sm3
    size = path.stat().st_size
    return FileReport(
        str(path), source, fmt_name, sha256, sm3, size, 0, 0, 0, 0, skipped_duplicate=True, duplicate_of=earlier
    )


def _quarantine_warnings(
    path: Path, fmt: str, counts: dict[str, int], stager: Stager, options: IngestOptions, has_mapping: bool
) -> list[str]:
    staged = [stager.staging / o.path for o in stager.outputs if o.kind == "quarantine"]
    warning = quarantine_warning(
        str(path),
        fmt,
        counts["events"],
        counts["quarantined"],
        top_reasons(staged) if counts["quarantined"] else [],
        max_ratio=options.max_quarantine_ratio,
        log_format=options.log_format,
        has_mapping=has_mapping,
    )
    return [warning] if warning else []


def _run_parser(
    fmt: Format, parser: Any, path: Path, options: IngestOptions, stager: Stager, sha: str, source: str
) -> tuple[dict[str, int], ReadStats, str, list[dict[str, Any]]]:
    stats = ReadStats()
    counts = {"events": 0, "quarantined": 0, "blank": 0, "structural": 0, "records": 0}
    merkle = MerkleBuilder()
    total = path.stat().st_size
    structural_rows: list[dict[str, Any]] = []
    order = LocalOrder()  # repeated/skipped local times are placed by file order (timeparse)
    if fmt.kind == "document":
        text = read_document(path, options.encoding, stats)
        result = _parse_safely(lambda: parser.parse_document(text), path)
        _store_result(result, None, stager, sha, source, path, counts, merkle, structural_rows, order, text)
        counts["records"] = counts["events"] + counts["quarantined"]
    else:
        _prescan(parser, path, options)

        def store(block: LineBlock, result: ParseResult | None) -> None:
            _store_quarantine(block.undecodable, stager, sha, source, path, counts)
            if result is not None:
                _store_result(result, block.good, stager, sha, source, path, counts, merkle, structural_rows, order)

        # Two stages on two cores: while one thread digests and writes block N, this one reads,
        # splits and parses block N+1 (polars and hashlib release the GIL). Blocks are stored
        # strictly in order, so Parquet part names and the Merkle leaves do not depend on timing.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="forensics-store") as pool:
            pending: Future[None] | None = None
            for block in iter_line_blocks(path, options.encoding, stats, options.max_line_bytes):
                counts["blank"] += block.blank
                result = None
                if block.good.height:
                    result = _parse_safely(lambda b=block.good: parser.parse_lines(b), path)  # type: ignore[misc]
                if pending is not None:
                    pending.result()  # raises the store stage's error here, in order
                pending = pool.submit(store, block, result)
                if options.progress:
                    options.progress(str(path), stats.bytes_read, total)
            if pending is not None:
                pending.result()
        counts["records"] = stats.lines
        accounted = counts["events"] + counts["quarantined"] + counts["blank"] + counts["structural"]
        if accounted != stats.lines:
            raise ForensicsError(
                f"{path}: accounting failed: {stats.lines} lines but {counts['events']} events + "
                f"{counts['quarantined']} quarantined + {counts['blank']} blank + {counts['structural']} structural "
                f"= {accounted}; nothing was stored (this is a bug in the {fmt.name} parser: please report it)"
            )
    return counts, stats, merkle.root(), structural_rows[:100]


def _prescan(parser: Any, path: Path, options: IngestOptions) -> None:
    """Give a parser that needs the whole file's context (syslog year inference) a first look.

    Skipped when the file fits one block: the parser then sees everything in one batch anyway.
    """
    if not hasattr(parser, "prescan"):
        return
    if detect_compression(path) == "none" and path.stat().st_size < BLOCK_SIZE:
        return
    for block in iter_line_blocks(path, options.encoding, ReadStats()):
        if block.good.height:
            _parse_safely(lambda b=block.good: parser.prescan(b), path)  # type: ignore[misc]


def _parse_safely(call: Callable[[], ParseResult], path: Path) -> ParseResult:
    try:
        return call()
    except ParseError as exc:
        raise ForensicsError(str(exc)) from exc


def _store_result(
    result: ParseResult,
    batch: pl.DataFrame | None,
    stager: Stager,
    sha: str,
    source: str,
    path: Path,
    counts: dict[str, int],
    merkle: MerkleBuilder,
    structural_rows: list[dict[str, Any]],
    order: LocalOrder | None = None,
    document: str | None = None,
) -> None:
    if batch is not None:
        _check_batch_accounting(result, batch, path)
    # Merkle order is (line_no, byte_offset): a minified JSON document holds many records on line 1.
    events = (
        result.events.sort(["line_no", "byte_offset"], maintain_order=True) if result.events.height else result.events
    )
    events, undecided = (order or LocalOrder()).resolve(events)
    if undecided.height:
        _store_quarantine(_undecided_rows(undecided, batch, document), stager, sha, source, path, counts)
    if events.height:
        if events.get_column("ts").null_count():
            raise ForensicsError(f"{path}: parser returned events without a timestamp (bug; report it)")
        events = conform_events(events, source, sha)
        events = with_row_digests(events)
        stager.write_events(events)
        merkle.add_packed(packed_digests(events.get_column("row_digest")))
    counts["events"] += events.height
    _store_quarantine(result.quarantine, stager, sha, source, path, counts)
    counts["structural"] += result.structural.height
    for row in result.structural.head(100).iter_rows(named=True):
        structural_rows.append(
            {"line_no": row["line_no"], "reason": row["reason"], "text": bytes(row["raw"]).decode("utf-8", "replace")}
        )


def _undecided_rows(undecided: pl.DataFrame, batch: pl.DataFrame | None, document: str | None) -> pl.DataFrame:
    """Quarantine rows (with the raw line) for records whose local time file order cannot place."""
    if batch is not None:
        raw = batch.select("line_no", "raw")
    else:
        lines = (document or "").split("\n")
        wanted = undecided.get_column("line_no").unique().to_list()
        raw = pl.DataFrame(
            {"line_no": wanted, "raw": [lines[n - 1].encode("utf-8") if n <= len(lines) else b"" for n in wanted]},
            schema={"line_no": pl.Int64, "raw": pl.Binary},
        )
    rows = undecided.join(raw, on="line_no", how="left", maintain_order="left")
    return rows.select("line_no", "byte_offset", "raw", "reason")


def _store_quarantine(
    rows: pl.DataFrame, stager: Stager, sha: str, source: str, path: Path, counts: dict[str, int]
) -> None:
    if rows.height == 0:
        return
    stager.write_quarantine(
        rows.with_columns(
            pl.lit(source).alias("source"), pl.lit(sha).alias("src_sha256"), pl.lit(str(path)).alias("src_path")
        )
    )
    counts["quarantined"] += rows.height


def _check_batch_accounting(result: ParseResult, batch: pl.DataFrame, path: Path) -> None:
    """Every line handed to the parser comes back exactly once."""
    given = batch.get_column("line_no").sort()
    back = pl.concat(
        [
            result.events.get_column("line_no").cast(pl.Int64),
            result.quarantine.get_column("line_no").cast(pl.Int64),
            result.structural.get_column("line_no").cast(pl.Int64),
        ]
    ).sort()
    if back.len() != given.len() or not back.equals(given):
        missing = sorted(set(given.to_list()) - set(back.to_list()))[:5]
        extra = back.filter(back.is_duplicated()).unique().to_list()[:5]
        raise ForensicsError(
            f"{path}: accounting failed: parser returned {back.len()} of {given.len()} lines "
            f"(missing lines {missing}, duplicated {extra}); nothing was stored (parser bug; please report it)"
        )


# ---------------------------------------------------------------- helpers


class _NothingToParse:
    """Parser of a file with no non-blank line; being handed a line is a bug."""

    def parse_lines(self, batch: pl.DataFrame) -> ParseResult:
        raise ForensicsError(f"line {batch['line_no'][0]} reached the parser of an empty file (bug; report it)")

    def parse_document(self, text: str) -> ParseResult:
        raise ForensicsError("an empty file has no document (bug; report it)")


class _EmptyFormat:
    name = "empty"
    kind: Literal["lines", "document"] = "lines"
    description = "an empty or blank-only file (--format auto)"

    def parser(self, options: FormatOptions) -> _NothingToParse:
        return _NothingToParse()

    def sniff(self, sample: list[str]) -> float:
        return 0.0


EMPTY_FORMAT = _EmptyFormat()


def _load_mapping(path: Path | None) -> Any:
    if path is None:
        return None
    from forensics.mapping import load_mapping

    return load_mapping(path)


def _source_name(options: IngestOptions, mapping: Any, path: Path) -> str:
    source = options.source or (mapping.source if mapping is not None else None)
    if not source:
        source = re.sub(r"[^A-Za-z0-9_]+", "_", path.name.split(".")[0]).strip("_").lower() or "log"
    if not SOURCE_RE.match(source):
        raise UsageError(f"source name {source!r} may only hold letters, digits, '_', '.', '-'")
    return str(source)


def _zone(tz: str | None, mapping: Any) -> ZoneInfo | None:
    if tz:
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"unknown time zone {tz!r} (use an IANA name such as Asia/Shanghai or UTC)") from None
    if mapping is not None and mapping.tz is not None:
        zone: ZoneInfo = mapping.tz
        return zone
    return None


@dataclass(frozen=True)
class _Resolved:
    """The format an input is read with, the format string (access logs), and for --format auto why."""

    format: Format
    log_format: str | None
    detection: Detection | None = None


def _year_limit(path: Path) -> datetime:
    """The latest instant a year-less record of this file can denote: its mtime, or now if that is earlier."""
    return min(datetime.fromtimestamp(path.stat().st_mtime, tz=UTC), datetime.now(tz=UTC))


def _resolve_format(path: Path, options: IngestOptions, mapping: Any) -> _Resolved:
    if options.format != "auto":
        return _Resolved(get_format(options.format), options.log_format)
    if mapping is not None:
        return _Resolved(get_format(mapping.format), options.log_format)
    sample = _sample_lines(path, options.encoding)
    if not sample:
        # empty or blank-only: nothing to parse, every line is accounted as blank
        return _Resolved(EMPTY_FORMAT, options.log_format)
    detection = detect(sample, options.log_format)
    if detection.chosen is None:
        raise UsageError(
            f"{path}: cannot tell the format from its first lines: {detection.describe()}; pass --format "
            f"(one of: {', '.join(format_names())}), for access logs --log-format, for JSON/CSV a --mapping FILE"
        )
    chosen = detection.chosen
    return _Resolved(get_format(chosen.format), chosen.log_format, detection)


def _sample_lines(path: Path, encoding: str = "auto", limit: int = 50) -> list[str]:
    """The first non-blank lines, for --format auto. Leniently decoded: reading the file decides the
    encoding for real (and refuses an ambiguous one); the format does not depend on a few bytes."""
    stats = ReadStats()
    from forensics.reader import EncodingUnknown, iter_blocks, sniff_encoding

    for block in iter_blocks(path, stats):
        head = block[: 1 << 16]
        try:
            chosen = check_encoding(encoding) if encoding != "auto" else sniff_encoding(head)
        except EncodingUnknown:
            chosen = "utf-8"
        text = head.decode(chosen, errors="replace").lstrip("\ufeff")
        return [ln.rstrip("\r") for ln in text.split("\n") if ln.strip()][:limit]
    return []


def _input_entry(
    path: Path,
    source: str,
    fmt: str,
    options: IngestOptions,
    mapping: Any,
    stats: ReadStats,
    counts: dict[str, int],
    merkle: str,
) -> dict[str, Any]:
    return {
        "path": str(path),
        "abs_path": str(path.resolve()),
        "source": source,
        "format": fmt,
        "log_format": options.log_format,
        "mapping": str(options.mapping) if options.mapping else None,
        "mapping_sha256": mapping.sha256 if mapping is not None else None,
        "tz": options.tz or (mapping.tz.key if mapping is not None and mapping.tz else None),
        "encoding": stats.encoding,
        "bom": stats.bom,
        "crlf_lines": stats.crlf_lines,
        "compression": stats.compression,
        "bytes": stats.raw.size,
        "sha256": stats.raw.sha256,
        "sm3": stats.raw.sm3,
        "decompressed_bytes": stats.decompressed.size,
        "decompressed_sha256": stats.decompressed.sha256,
        "decompressed_sm3": stats.decompressed.sm3,
        "lines": stats.lines,
        "records": counts["records"],
        "events": counts["events"],
        "quarantined": counts["quarantined"],
        "blank": counts["blank"],
        "structural": counts["structural"],
        "merkle_root": merkle,
        "ingested_at": now_iso(),
    }


def _preserve(case: Case, path: Path, sha: str) -> str:
    """Copy the raw file into the case, content-addressed; verify the copy."""
    rel = Path("raw") / sha[:2] / sha
    target = case.root / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _private_tmp(target)
        shutil.copyfile(path, tmp)
        if hash_file(tmp).sha256 != sha:
            tmp.unlink()
            raise ForensicsError(f"{path}: preserved copy does not match the original's hash")
        tmp.replace(target)
        target.chmod(0o444)
    return rel.as_posix()


def _preserve_mapping(case: Case, path: Path, sha: str) -> str:
    """Keep the mapping file in the case, content-addressed, so verify --reparse can use it again."""
    rel = Path("mappings") / f"{sha}.toml"
    target = case.root / rel
    if not target.exists():
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            raise ForensicsError(f"{path}: mapping file changed while it was being used; try again")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _private_tmp(target)
        tmp.write_bytes(data)
        tmp.replace(target)
        target.chmod(0o444)
    return rel.as_posix()


def _private_tmp(target: Path) -> Path:
    """A temporary name no other writer uses: Spark tasks on several hosts may preserve the same
    content-addressed file at the same time; each writes its own copy and the last rename wins (same bytes)."""
    import secrets

    return target.with_name(f"{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _options_json(options: IngestOptions) -> dict[str, Any]:
    data = asdict(options)
    data.pop("progress", None)
    return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}
