"""verify names every changed byte: Parquet, manifest, custody log, preserved raw file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forensics.case import Case
from forensics.custody import merkle_root, verify_case
from forensics.ingest import IngestOptions, ingest_paths

LOG = b"".join(f"2024-03-01T10:00:{s:02d}Z user{s} order.view\n".encode() for s in range(50)) + b"junk\n"


@pytest.fixture
def sealed(case: Case, tiny_format: str, tmp_path: Path) -> Case:
    path = tmp_path / "a.log"
    path.write_bytes(LOG)
    ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app", preserve=True))
    return case


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_fresh_case_verifies(sealed: Case) -> None:
    report = verify_case(sealed)
    assert report.ok, report.problems
    assert report.checked["parquet_files"] >= 2


def test_changed_parquet_byte_is_named(sealed: Case) -> None:
    target = sorted(sealed.events_dir.rglob("*.parquet"))[0]
    _flip(target, target.stat().st_size // 2)
    report = verify_case(sealed)
    assert not report.ok
    assert any(p.kind == "parquet" and p.path.endswith(target.name) for p in report.problems)


def test_changed_manifest_byte_is_named(sealed: Case) -> None:
    text = sealed.manifest_path.read_text()
    sealed.manifest_path.write_text(text.replace('"events": 50', '"events": 51', 1))
    report = verify_case(sealed)
    assert not report.ok
    assert any(p.kind in {"manifest", "rows"} for p in report.problems)


def test_changed_custody_entry_is_named(sealed: Case) -> None:
    lines = sealed.custody_path.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["details"]["paths"] = ["/somewhere/else.log"]
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    sealed.custody_path.write_text("\n".join(lines) + "\n")
    report = verify_case(sealed)
    assert any(p.kind == "custody" and p.path.endswith(":2") for p in report.problems)


def test_deleted_custody_entry_breaks_the_chain(sealed: Case) -> None:
    lines = sealed.custody_path.read_text().splitlines()
    sealed.custody_path.write_text("\n".join(lines[1:]) + "\n")
    assert not verify_case(sealed).ok


def test_changed_preserved_raw_file_is_named(sealed: Case) -> None:
    copy = sealed.root / sealed.manifest()["inputs"][0]["preserved_copy"]
    copy.chmod(0o644)
    _flip(copy, 3)
    report = verify_case(sealed)
    assert any(p.kind == "raw" for p in report.problems)


def test_extra_parquet_file_is_named(sealed: Case) -> None:
    src = sorted(sealed.events_dir.rglob("*.parquet"))[0]
    (src.parent / "smuggled.parquet").write_bytes(src.read_bytes())
    report = verify_case(sealed)
    assert any(p.kind == "unexpected" for p in report.problems)


def test_merkle_root_depends_on_every_digest_and_order() -> None:
    digests = [f"{i:064x}" for i in range(5000)]
    root = merkle_root(digests)
    assert root != merkle_root(digests[::-1])
    changed = list(digests)
    changed[4999] = "f" * 64
    assert root != merkle_root(changed)
    assert root == merkle_root(list(digests))
