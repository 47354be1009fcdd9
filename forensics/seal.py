"""Sealing: hashing (SHA-256 + SM3), row digests, Merkle roots, the manifest and the hash-chained custody log.

The one home of every seal. It depends on no other case module (a case is anything with the
paths of SealedFolder), so case.py and custody.py (verify) both import it and nothing imports back.

What is sealed, and how a re-verifier recomputes it without our code:
- every raw input: SHA-256 and SM3 of the bytes as given and of the decompressed stream;
- every Parquet file: SHA-256 and SM3 of the file;
- every event row: ``row_digest`` = SHA-256 (hex) of the row's canonical text (see
  ``canonical_row_text``), independent of the Parquet writer;
- per input, ``merkle_root``: rows sorted by (line_no, byte_offset), their digests cut into leaves of
  LEAF_ROWS consecutive rows, leaf = SHA-256 of the concatenated 32-byte digests, then a binary
  tree of SHA-256(left || right) (an odd node is carried up unchanged);
- custody.log: one JSON object per line; ``hash`` = SHA-256 of the entry's canonical JSON without
  ``hash``; ``prev_hash`` = the previous entry's hash (64 zeros for the first).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import polars as pl

from forensics import __version__
from forensics.errors import ForensicsError
from forensics.schema import EVENT_COLUMNS


class SealedFolder(Protocol):
    """What sealing needs of a case (forensics.case.Case provides it)."""

    @property
    def manifest_path(self) -> Path: ...

    @property
    def custody_path(self) -> Path: ...


GENESIS = "0" * 64
LEAF_ROWS = 4096
CANONICAL_COLUMNS = [c for c in EVENT_COLUMNS if c != "row_digest"]


class DualHasher:
    """SHA-256 and SM3 over the same stream (SM3 from OpenSSL via hashlib)."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._sm3 = _new_sm3()
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self._sha.update(data)
        self._sm3.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    @property
    def sm3(self) -> str:
        return self._sm3.hexdigest()


class _CryptographySM3:
    """Fallback when this Python's OpenSSL lacks SM3."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import hashes

        self._h = hashes.Hash(hashes.SM3())

    def update(self, data: bytes | memoryview) -> None:
        self._h.update(bytes(data))

    def hexdigest(self) -> str:
        return self._h.copy().finalize().hex()


def _new_sm3() -> Any:
    if "sm3" in hashlib.algorithms_available:
        return hashlib.new("sm3")
    return _CryptographySM3()


class BackgroundHasher:
    """Feeds a DualHasher from a worker thread so hashing overlaps parsing.

    hashlib releases the GIL on large buffers, so on two cores SM3 (the slow one) runs beside
    the polars/DuckDB work instead of before it. Call ``result()`` to wait for the digests.
    """

    def __init__(self) -> None:
        import queue
        import threading

        self.hasher = DualHasher()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)  # bounded: memory stays bounded
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            self.hasher.update(block)

    def update(self, data: bytes) -> None:
        self._queue.put(bytes(data))

    def result(self) -> DualHasher:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        return self.hasher


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """SHA-256 only: the cheap identity pass before ingest (duplicate detection, provenance)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_file(path: Path, chunk: int = 1 << 22) -> DualHasher:
    hasher = DualHasher()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            hasher.update(block)
    return hasher


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------- row digests and Merkle roots


def canonical_text_expr(schema: pl.Schema) -> pl.Expr:
    """The canonical text of each row, defined so anyone can recompute it without our code.

    For each column of CANONICAL_COLUMNS in schema order, one field: ``-`` for null, else
    ``<n>:<value>`` where n is the UTF-8 byte length of value (length prefixes make the
    encoding unambiguous whatever the values contain). Values: ts as microseconds since the
    Unix epoch; integers in decimal; booleans as true/false; lists as ``[`` + their elements
    encoded the same way + ``]``; strings as they are. Fields are concatenated with no separator.
    """
    parts: list[pl.Expr] = []
    for name in CANONICAL_COLUMNS:
        dtype = schema[name]
        col = pl.col(name)
        if name == "ts":
            text = col.dt.epoch("us").cast(pl.String)
        elif isinstance(dtype, pl.List):
            element = pl.element().str.len_bytes().cast(pl.String) + pl.lit(":") + pl.element()
            inner = pl.when(pl.element().is_null()).then(pl.lit("-")).otherwise(element)  # [null] is not []
            text = pl.lit("[") + col.list.eval(inner).list.join("") + pl.lit("]")
            text = pl.when(col.is_null()).then(None).otherwise(text)
        elif dtype == pl.Boolean:
            text = pl.when(col).then(pl.lit("true")).otherwise(pl.lit("false"))
            text = pl.when(col.is_null()).then(None).otherwise(text)
        else:
            text = col.cast(pl.String)
        field_text = text.str.len_bytes().cast(pl.String) + pl.lit(":") + text
        parts.append(field_text.fill_null(pl.lit("-")))
    return pl.concat_str(parts).alias("canonical")


def canonical_row_text(events: pl.DataFrame) -> pl.Series:
    """See canonical_text_expr."""
    return events.lazy().select(canonical_text_expr(events.schema)).collect().get_column("canonical")


def with_row_digests(events: pl.DataFrame) -> pl.DataFrame:
    """Fill ``row_digest`` (hex SHA-256 of the canonical text), vectorized: ingest's fast path.

    SHA-256 runs inside polars (the polars-hash plugin, Rust's sha2), so no Python call per row.
    ``verify`` recomputes every digest with a second implementation (OpenSSL via hashlib, see
    row_digests) and tests pin the two to each other, so a fault in either is caught. Should the
    plugin be missing or refuse this polars build, the same digests come from hashlib, only slower.
    """
    base = events.drop("row_digest", strict=False)
    try:
        import polars_hash as plh

        digest = plh.col("canonical").chash.sha2_256().alias("row_digest")
        digests = base.lazy().select(canonical_text_expr(base.schema)).select(digest).collect()["row_digest"]
    except (ImportError, pl.exceptions.PolarsError) as exc:
        _warn_slow_digests(exc)
        digests = row_digests(base)
    return base.with_columns(digests.alias("row_digest")).select(EVENT_COLUMNS)


def _warn_slow_digests(exc: BaseException) -> None:
    # the warnings registry shows a given message once per run, not once per batch
    warnings.warn(
        f"polars-hash is unavailable ({exc}); row digests are computed with hashlib (same values, slower)",
        RuntimeWarning,
        stacklevel=3,
    )


def row_digests_binary(events: pl.DataFrame) -> list[bytes]:
    """32-byte SHA-256 of each row's canonical text (OpenSSL's SHA-256 via hashlib)."""
    sha = hashlib.sha256
    return [sha(t.encode("utf-8")).digest() for t in canonical_row_text(events).to_list()]


def row_digests(events: pl.DataFrame) -> pl.Series:
    """SHA-256 hex of each row's canonical text (see canonical_text_expr), computed with hashlib."""
    digests = row_digests_binary(events)
    return pl.Series("row_digest", digests, dtype=pl.Binary).bin.encode("hex")


def packed_digests(digests_hex: pl.Series) -> bytes:
    """Hex digests as one buffer of consecutive 32-byte digests (what Merkle leaves hash)."""
    if digests_hex.null_count() or not digests_hex.str.len_bytes().eq(64).all():
        raise ForensicsError("a row digest is missing or malformed (bug; report it)")
    return bytes.fromhex(digests_hex.str.join("").item()) if digests_hex.len() else b""


def merkle_root(digests_hex: Iterable[str]) -> str:
    """Merkle root over row digests given in (line_no, byte_offset) order (see module docstring)."""
    builder = MerkleBuilder()
    builder.add_packed(b"".join(bytes.fromhex(d) for d in digests_hex))
    return builder.root()


class MerkleBuilder:
    """Streams 32-byte row digests (in order) into Merkle leaves of LEAF_ROWS rows; ingest feeds it
    batch by batch, verify all at once, so both compute the root the same way."""

    def __init__(self) -> None:
        self._pending = b""
        self._leaves: list[bytes] = []

    def add_packed(self, digests: bytes) -> None:
        """Add consecutive 32-byte digests, in order."""
        data = self._pending + digests if self._pending else digests
        leaf = LEAF_ROWS * 32
        view = memoryview(data)
        full = len(data) - len(data) % leaf
        self._leaves.extend(hashlib.sha256(view[i : i + leaf]).digest() for i in range(0, full, leaf))
        self._pending = bytes(view[full:])

    def root(self) -> str:
        level = list(self._leaves)
        if self._pending or not level:
            level.append(hashlib.sha256(self._pending).digest())
        while len(level) > 1:
            nxt = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        return level[0].hex()


# ---------------------------------------------------------------- manifest and custody log


def write_manifest(case: SealedFolder, data: dict[str, Any]) -> None:
    data = dict(data)
    data["tool"] = tool_versions()
    data["updated_at"] = now_iso()
    _atomic_write(case.manifest_path, manifest_text(data))


def manifest_text(data: dict[str, Any]) -> str:
    """Readable JSON with one line per input and per output. json.dumps(indent=...) runs Python's
    pure-Python encoder, which made rewriting the manifest of a thousand-file dump take seconds."""
    items = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, list) and value:
            rows = ",\n    ".join(json.dumps(v, sort_keys=True, ensure_ascii=False) for v in value)
            text = f"[\n    {rows}\n  ]"
        else:
            text = json.dumps(value, sort_keys=True, ensure_ascii=False)
        items.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(items) + "\n}\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(text.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def tool_versions() -> dict[str, str]:
    import platform

    import pyarrow

    return {
        "forensics": __version__,
        "python": platform.python_version(),
        "polars": pl.__version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
    }


def _entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def read_custody(case: SealedFolder) -> list[dict[str, Any]]:
    """The custody entries; a damaged log is an error that names the line (never appended to)."""
    if not case.custody_path.exists():
        return []
    entries: list[dict[str, Any]] = []
    text = case.custody_path.read_text(encoding="utf-8", errors="replace")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ForensicsError(
                f"{case.custody_path}:{n}: custody log is damaged ({exc.msg}); run forensics verify"
            ) from exc
        if not isinstance(entry, dict):
            raise ForensicsError(
                f"{case.custody_path}:{n}: custody log is damaged (not an object); run forensics verify"
            )
        entries.append(entry)
    return entries


def _tolerant_custody(case: SealedFolder) -> list[dict[str, Any]]:
    """The entries that parse, for verify (which reports the damaged ones itself)."""
    try:
        return read_custody(case)
    except ForensicsError:
        entries = []
        for line in case.custody_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries


def append_custody(
    case: SealedFolder, action: str, details: dict[str, Any], command_line: str | None = None
) -> dict[str, Any]:
    """Append one hash-chained entry. The log is only ever appended to.

    command_line: what to record as the command (default: this process's command line)."""
    entries = read_custody(case)
    prev = entries[-1]["hash"] if entries else GENESIS
    if command_line is None and sys.argv and "forensics" in sys.argv[0]:
        command_line = " ".join(["forensics", *sys.argv[1:]])
    entry: dict[str, Any] = {
        "seq": len(entries) + 1,
        "at": now_iso(),
        "action": action,
        "command": command_line,
        "user": os.environ.get("USER") or os.environ.get("LOGNAME"),
        "host": os.uname().nodename,
        "tool_version": __version__,
        "details": details,
        "prev_hash": prev,
    }
    entry["hash"] = _entry_hash(entry)
    with case.custody_path.open("ab") as fh:
        fh.write((canonical_json(entry) + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())  # on disk before anyone is told the step is done
    return entry


def manifest_seal(manifest: dict[str, Any]) -> str:
    """Hash of the manifest's evidence content (inputs and outputs), as recorded in custody."""
    body = {"inputs": manifest.get("inputs", []), "outputs": manifest.get("outputs", [])}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()
