"""Ingest accounting, duplicates, compression, encodings, zone refusal: with a test-only format."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.case import Case, init_case
from forensics.errors import ForensicsError, UsageError
from forensics.ingest import IngestOptions, ingest_paths, ingest_plan

LOG = (
    b"2024-03-01T10:00:00+08:00 alice order.view\n"
    b"\n"
    b"2024-03-02T10:00:00Z bob auth.login\r\n"
    b"garbage line\n"
    b"bad\xff\xfe bytes\n"
    b"2024-03-02T11:00:00.123456Z carol order.export"
)


def _write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def test_every_line_is_accounted_for(case: Case, tiny_format: str, tmp_path: Path) -> None:
    report = ingest_paths(case, [_write(tmp_path, "a.log", LOG)], IngestOptions(format=tiny_format, source="app"))
    f = report.files[0]
    assert (f.lines, f.events, f.quarantined, f.blank) == (6, 3, 2, 1)
    assert f.lines == f.events + f.quarantined + f.blank
    _cols, rows = case.query_readonly("SELECT line_no, reason, raw FROM quarantine ORDER BY line_no")
    assert [(r[0], bytes(r[2])) for r in rows] == [(4, b"garbage line"), (5, b"bad\xff\xfe bytes")]
    assert "invalid utf-8 bytes at column 4" in rows[1][1]


def test_provenance_points_at_the_exact_raw_line(case: Case, tiny_format: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "a.log", LOG)
    ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app"))
    _, rows = case.query_readonly("SELECT line_no, byte_offset, ts_raw, src_sha256 FROM events ORDER BY line_no")
    raw = path.read_bytes()
    for line_no, offset, ts_raw, _sha in rows:
        assert raw[offset:].split(b"\n", 1)[0].startswith(ts_raw.encode())
        assert raw.split(b"\n")[line_no - 1].startswith(ts_raw.encode())


def test_timestamps_are_utc_with_original_text_and_offset(case: Case, tiny_format: str, tmp_path: Path) -> None:
    ingest_paths(case, [_write(tmp_path, "a.log", LOG)], IngestOptions(format=tiny_format, source="app"))
    _, rows = case.query_readonly(
        "SELECT strftime(ts, '%Y-%m-%dT%H:%M:%S.%f'), ts_raw, ts_offset FROM events ORDER BY line_no"
    )
    assert rows[0] == ("2024-03-01T02:00:00.000000", "2024-03-01T10:00:00+08:00", "+08:00")
    assert rows[2] == ("2024-03-02T11:00:00.123456", "2024-03-02T11:00:00.123456Z", "Z")


def test_reingesting_the_same_bytes_changes_nothing(case: Case, tiny_format: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "a.log", LOG)
    ingest_paths(case, [path], IngestOptions(format=tiny_format))
    before = {p: p.read_bytes() for p in case.root.rglob("*") if p.is_file()}
    copy = _write(tmp_path, "renamed.log", LOG)
    report = ingest_paths(case, [copy], IngestOptions(format=tiny_format))
    assert report.files[0].skipped_duplicate
    after = {p: p.read_bytes() for p in case.root.rglob("*") if p.is_file()}
    assert before == after


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [
        (".gz", gzip.compress),
        (".bz2", bz2.compress),
        (".xz", lzma.compress),
        (".zst", lambda b: zstandard.ZstdCompressor().compress(b)),
    ],
)
def test_compressed_inputs_read_transparently(
    case: Case, tiny_format: str, tmp_path: Path, suffix: str, compress
) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, "a.log" + suffix, compress(LOG))
    report = ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app"))
    f = report.files[0]
    assert (f.lines, f.events, f.quarantined, f.blank) == (6, 3, 2, 1)
    entry = case.manifest()["inputs"][0]
    assert entry["decompressed_bytes"] == len(LOG)
    assert entry["bytes"] == path.stat().st_size


def test_gb18030_is_decoded_when_named(case: Case, tiny_format: str, tmp_path: Path) -> None:
    """Four Chinese characters read as well in Big5, EUC-KR or Shift_JIS: auto refuses to guess (issue 15.6)."""
    text = "2024-03-01T10:00:00Z 张三 order.view\n2024-03-01T10:00:01Z 李四 order.view\n"
    path = _write(tmp_path, "gb.log", text.encode("gb18030"))
    with pytest.raises(UsageError, match="cannot tell the encoding"):
        ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app"))
    report = ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app", encoding="gb18030"))
    assert report.files[0].events == 2
    _, rows = case.query_readonly("SELECT actor_id FROM events ORDER BY line_no")
    assert [r[0] for r in rows] == ["张三", "李四"]
    assert case.manifest()["inputs"][0]["encoding"] == "gb18030"


def test_utf8_bom_is_not_part_of_the_first_record(case: Case, tiny_format: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.log", b"\xef\xbb\xbf2024-03-01T10:00:00Z alice order.view\n")
    report = ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app"))
    assert report.files[0].events == 1
    assert case.manifest()["inputs"][0]["bom"] is True


def test_zoneless_timestamps_are_refused_without_tz(case: Case, tiny_format: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "naive.log", b"2024-03-01 10:00:00 alice order.view\n")
    with pytest.raises(ForensicsError, match=r"naive.log:1: .*--tz"):
        ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app"))
    assert not list(case.events_dir.rglob("*.parquet"))
    report = ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app", tz="Asia/Shanghai"))
    assert report.files[0].events == 1
    _, rows = case.query_readonly("SELECT strftime(ts, '%H:%M'), ts_offset FROM events")
    assert rows == [("02:00", "Asia/Shanghai")]


def test_unknown_format_suggests_closest(case: Case, tmp_path: Path) -> None:
    path = _write(tmp_path, "a.log", LOG)
    with pytest.raises(UsageError, match="did you mean 'nginx'"):
        ingest_paths(case, [path], IngestOptions(format="ngnix"))


def test_plan_ingests_globs_relative_to_the_plan(case: Case, tiny_format: str, tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    _write(tmp_path / "logs", "one.log", b"2024-03-01T10:00:00Z alice order.view\n")
    _write(tmp_path / "logs", "two.log", b"2024-03-01T10:00:00Z bob order.view\n")
    plan = _write(tmp_path, "plan.toml", b'[[input]]\nglob = "logs/*.log"\nformat = "tiny"\nsource = "app"\n')
    report = ingest_plan(case, plan, IngestOptions())
    assert [Path(f.path).name for f in report.files] == ["one.log", "two.log"]
    assert report.events == 2


def test_plan_glob_matching_nothing_is_a_clear_error(case: Case, tmp_path: Path) -> None:
    plan = _write(tmp_path, "plan.toml", b'[[input]]\nglob = "nothing/*.log"\nformat = "tiny"\n')
    with pytest.raises(UsageError, match="matches no file"):
        ingest_plan(case, plan, IngestOptions())


def test_truncated_compressed_streams_are_refused_not_shortened(case: Case, tiny_format: str, tmp_path: Path) -> None:
    for name, data in [
        ("t.log.zst", zstandard.ZstdCompressor().compress(LOG)[:-3]),
        ("t.log.gz", gzip.compress(LOG)[:-5]),
        ("m.log.zst", b"(\xb5/\xfd"),
    ]:
        with pytest.raises(ForensicsError, match="cannot read"):
            ingest_paths(case, [_write(tmp_path, name, data)], IngestOptions(format=tiny_format, source="app"))
    assert not list(case.events_dir.rglob("*.parquet"))


def test_preserve_copies_raw_files_content_addressed(case: Case, tiny_format: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "a.log", LOG)
    ingest_paths(case, [path], IngestOptions(format=tiny_format, preserve=True))
    entry = case.manifest()["inputs"][0]
    assert (case.root / entry["preserved_copy"]).read_bytes() == LOG
    assert path.read_bytes() == LOG  # the original is untouched


def test_custody_records_the_ingest_with_a_manifest_seal(case: Case, tiny_format: str, tmp_path: Path) -> None:
    ingest_paths(case, [_write(tmp_path, "a.log", LOG)], IngestOptions(format=tiny_format))
    entries = [json.loads(x) for x in case.custody_path.read_text().splitlines()]
    assert [e["action"] for e in entries] == ["init", "ingest"]
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert len(entries[1]["details"]["manifest_sha256"]) == 64


line_text = st.one_of(
    st.builds(
        lambda d, a, act: f"2024-03-{d:02d}T10:00:00Z {a} {act}".encode(),
        st.integers(1, 28),
        st.from_regex(r"[a-z]{1,8}", fullmatch=True),
        st.sampled_from(["order.view", "auth.login"]),
    ),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line_text, max_size=30), trailing_newline=st.booleans())
def test_accounting_holds_for_any_bytes(
    tiny_format: str, tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], trailing_newline: bool
) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    case = init_case(tmp / "case")
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    path = _write(tmp, "x.log", data)
    try:
        report = ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app", encoding="utf-8", tz="UTC"))
    except ForensicsError as exc:
        # Bytes that start like a compressed stream but are not one: a clear error naming the file.
        assert str(path) in str(exc) and "cannot read" in str(exc)
        return
    f = report.files[0]
    expected_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    assert f.lines == expected_lines
    assert f.lines == f.events + f.quarantined + f.blank


def _block_log() -> bytes:
    lines = []
    for i in range(300):
        if i % 37 == 5:
            lines.append(b"")  # blank
        elif i % 41 == 7:
            lines.append(b"bad\xff bytes " + str(i).encode())
        elif i == 150:
            lines.append(b"2024-03-01T10:00:00Z " + b"x" * 300 + b" order.view")  # longer than a block
        else:
            crlf = b"\r" if i % 11 == 0 else b""
            lines.append(f"2024-03-01T10:{i // 60:02d}:{i % 60:02d}Z user{i} order.view".encode() + crlf)
    return b"\n".join(lines)  # no newline after the last line


def _stored(case: Case) -> list[tuple[int, int, str]]:
    frame = case.connect().sql("SELECT line_no, byte_offset, row_digest FROM events ORDER BY line_no").fetchall()
    return [(int(a), int(b), str(c)) for a, b, c in frame]


@pytest.mark.parametrize("compress", [False, True])
def test_small_blocks_give_the_same_case_as_one_block(
    tiny_format: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compress: bool
) -> None:
    """Lines cut across read blocks, parsed and stored by the two pipeline stages, come out
    exactly as from one block: same rows, offsets, digests and Merkle root."""
    import forensics.reader

    data = _block_log()
    path = _write(tmp_path, "big.log.gz" if compress else "big.log", gzip.compress(data) if compress else data)
    one = init_case(tmp_path / "one")
    ingest_paths(one, [path], IngestOptions(format=tiny_format, source="app"))
    monkeypatch.setattr(forensics.reader, "BLOCK_SIZE", 97)
    many = init_case(tmp_path / "many")
    report = ingest_paths(many, [path], IngestOptions(format=tiny_format, source="app"))
    f = report.files[0]
    assert (f.lines, f.blank) == (300, data.split(b"\n").count(b""))
    assert f.events + f.quarantined + f.blank == 300
    assert _stored(many) == _stored(one)
    assert many.manifest()["inputs"][0]["merkle_root"] == one.manifest()["inputs"][0]["merkle_root"]
    assert len(list(many.events_dir.rglob("*.parquet"))) > 10  # really many blocks
    from forensics.custody import verify_case

    assert verify_case(many).ok


def test_a_store_failure_mid_file_leaves_the_case_as_it_was(
    case: Case, tiny_format: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import forensics.reader
    from forensics.store import Stager

    path = _write(tmp_path, "big.log", _block_log())
    monkeypatch.setattr(forensics.reader, "BLOCK_SIZE", 97)
    manifest_before = case.manifest_path.read_bytes()
    custody_before = case.custody_path.read_bytes()
    calls = {"n": 0}
    original = Stager.write_events

    def failing(self: Stager, events: object) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(28, "No space left on device")
        original(self, events)  # type: ignore[arg-type]

    monkeypatch.setattr(Stager, "write_events", failing)
    with pytest.raises(OSError, match="No space"):
        ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app"))
    assert calls["n"] == 5  # the pipeline stopped at the failing block
    assert not list(case.root.rglob("*.parquet"))
    assert not (case.root / ".staging").exists()
    assert case.manifest_path.read_bytes() == manifest_before
    assert case.custody_path.read_bytes() == custody_before


@pytest.mark.parametrize(("interval", "entries"), [(3600.0, 1), (0.0, 12)])
def test_many_files_are_sealed_in_batches(
    case: Case, tiny_format: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interval: float, entries: int
) -> None:
    """Rotated logs: files are sealed together (one manifest write and custody entry per batch),
    and every one of them is listed, verifiable and named in a custody entry."""
    import forensics.ingest
    from forensics.custody import read_custody, verify_case

    monkeypatch.setattr(forensics.ingest, "SEAL_EVERY_SECONDS", interval)
    paths = [
        _write(tmp_path, f"app.log.{i}", f"2024-03-01T10:00:{i:02d}Z user{i} order.view\n".encode()) for i in range(12)
    ]
    ingest_paths(case, paths, IngestOptions(format=tiny_format, source="app"))
    ingests = [e for e in read_custody(case) if e["action"] == "ingest"]
    assert len(ingests) == entries
    sealed = [i["path"] for e in ingests for i in e["details"]["inputs"]]
    assert sealed == [str(p) for p in paths]
    assert [i["path"] for i in case.manifest()["inputs"]] == [str(p) for p in paths]
    # the command (here 12 paths; in a real dump thousands) is recorded once per run, not per batch
    assert ingests[0]["details"]["paths"] == [str(p) for p in paths]
    for later in ingests[1:]:
        assert "paths" not in later["details"] and later["details"]["continues_seq"] == ingests[0]["seq"]
        assert later["command"] == f"(the command of custody entry {ingests[0]['seq']}, continued)"
    assert verify_case(case).ok


def test_files_done_before_an_interrupt_are_sealed_and_the_rest_leave_nothing(
    case: Case, tiny_format: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import forensics.ingest
    from forensics.custody import verify_case

    monkeypatch.setattr(forensics.ingest, "SEAL_EVERY_SECONDS", 3600.0)
    paths = [
        _write(tmp_path, f"app.log.{i}", f"2024-03-01T10:00:{i:02d}Z user{i} order.view\n".encode()) for i in range(5)
    ]
    original = forensics.ingest._run_parser
    calls = {"n": 0}

    def interrupted(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(forensics.ingest, "_run_parser", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths(case, paths, IngestOptions(format=tiny_format, source="app"))
    assert [i["path"] for i in case.manifest()["inputs"]] == [str(p) for p in paths[:3]]
    assert not (case.root / ".staging").exists()
    assert verify_case(case).ok


@pytest.mark.parametrize("failing", ["commit", "manifest", "custody", "custody_half_written", "custody_written"])
def test_a_failed_seal_leaves_no_unlisted_parquet(
    case: Case, tiny_format: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Sealing a batch is all or nothing: if moving the second file, writing the manifest or appending
    the custody entry fails, the files go back to staging and the manifest is as it was."""
    import forensics.ingest
    from forensics.custody import verify_case
    from forensics.store import Stager

    monkeypatch.setattr(forensics.ingest, "SEAL_EVERY_SECONDS", 3600.0)
    first = _write(tmp_path, "first.log", b"2024-03-01T09:00:00Z zed order.view\n")
    ingest_paths(case, [first], IngestOptions(format=tiny_format, source="app"))  # an earlier, sealed input
    manifest_before = case.manifest_path.read_bytes()
    custody_before = case.custody_path.read_bytes()
    parquet_before = sorted(case.root.rglob("*.parquet"))
    paths = [_write(tmp_path, f"app.log.{i}", f"2024-03-01T10:00:0{i}Z u{i} order.view\n".encode()) for i in range(2)]

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    if failing == "commit":
        original, calls = Stager.commit, {"n": 0}

        def commit(self: Stager) -> list[dict[str, object]]:
            calls["n"] += 1
            if calls["n"] == 2:
                boom()
            return original(self)

        monkeypatch.setattr(Stager, "commit", commit)
    elif failing == "manifest":
        monkeypatch.setattr(forensics.ingest, "write_manifest", boom)
    elif failing == "custody":
        monkeypatch.setattr(forensics.ingest, "append_custody", boom)
    else:
        real_append = forensics.ingest.append_custody

        def append_then_fail(*args: object, **kwargs: object) -> None:
            if failing == "custody_written":
                real_append(*args, **kwargs)  # type: ignore[arg-type]
            else:  # a full disk: half an entry reaches the file
                with case.custody_path.open("ab") as fh:
                    fh.write(b'{"action":"ingest","det')
            boom()

        monkeypatch.setattr(forensics.ingest, "append_custody", append_then_fail)
    with pytest.raises(OSError, match="No space"):
        ingest_paths(case, paths, IngestOptions(format=tiny_format, source="app"))
    assert sorted(case.root.rglob("*.parquet")) == parquet_before
    assert case.manifest_path.read_bytes() == manifest_before
    assert case.custody_path.read_bytes() == custody_before
    assert not (case.root / ".staging").exists()
    assert verify_case(case).ok


def test_ctrl_c_during_a_seal_is_held_until_the_seal_is_done(
    case: Case, tiny_format: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real SIGINT arriving while a batch is sealed: the seal completes, once, then Ctrl-C stops the run."""
    import os
    import signal

    import forensics.ingest
    from forensics.custody import read_custody, verify_case

    monkeypatch.setattr(forensics.ingest, "SEAL_EVERY_SECONDS", 0.0)  # seal after every file
    paths = [_write(tmp_path, f"app.log.{i}", f"2024-03-01T10:00:0{i}Z u{i} order.view\n".encode()) for i in range(3)]
    original = forensics.ingest.write_manifest

    def manifest_then_ctrl_c(*args: object, **kwargs: object) -> None:
        original(*args, **kwargs)  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the seal

    monkeypatch.setattr(forensics.ingest, "write_manifest", manifest_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths(case, paths, IngestOptions(format=tiny_format, source="app"))
    assert [i["path"] for i in case.manifest()["inputs"]] == [str(paths[0])]
    assert len([e for e in read_custody(case) if e["action"] == "ingest"]) == 1
    assert not (case.root / ".staging").exists()
    assert verify_case(case).ok
