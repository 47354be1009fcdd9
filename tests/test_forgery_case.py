"""Issue 10 part B, as reproduced: every input to a result is sealed, nothing unsealed is read,
one writer at a time, and a retracted input leaves the views but stays sealed (issue 11)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from forensics.case import Case, case_lock
from forensics.custody import verify_case
from forensics.errors import ForensicsError
from forensics.ingest import IngestOptions, ingest_paths
from forensics.seal import append_custody, read_custody, sha256_file

LOG = b"".join(f"2024-03-05T10:00:{s:02d}Z user{s} order.view\n".encode() for s in range(40))
OTHER = b"".join(f"2024-03-10T11:00:{s:02d}Z admin{s} order.view_unmasked\n".encode() for s in range(7))


def _count(case: Case, where: str = "true") -> int:
    con = case.connect()
    try:
        row = con.execute(f"SELECT count(*) FROM events WHERE {where}").fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def _kinds(case: Case) -> set[tuple[str, str]]:
    return {(p.kind, p.path) for p in verify_case(case).problems}


@pytest.fixture
def sealed(case: Case, tiny_format: str, tmp_path: Path) -> Case:
    (tmp_path / "a.log").write_bytes(LOG)
    (tmp_path / "b.log").write_bytes(OTHER)
    opts = IngestOptions(format=tiny_format, source="app", preserve=True)
    ingest_paths(case, [tmp_path / "a.log", tmp_path / "b.log"], opts)
    assert verify_case(case).ok
    return case


# ---------------------------------------------------------------- nothing unsealed is read


def test_symlinked_partition_folder_adds_no_events_and_is_reported(sealed: Case) -> None:
    before = _count(sealed)
    source = sealed.events_dir / "source=app"
    (source / "date=2024-03-11").symlink_to("date=2024-03-05")  # DuckDB's glob followed this
    assert _count(sealed) == before
    assert ("symlink", "events/source=app/date=2024-03-11") in _kinds(sealed)


def test_unlisted_parquet_file_is_not_queried_and_is_reported(sealed: Case) -> None:
    before = _count(sealed)
    listed = sorted(sealed.events_dir.rglob("*.parquet"))[0]
    orphan = listed.parent / "orphan-00001.parquet"
    shutil.copyfile(listed, orphan)  # what a crashed concurrent ingest left behind
    assert _count(sealed) == before
    rel = orphan.relative_to(sealed.root).as_posix()
    assert ("unexpected", rel) in _kinds(sealed)


def test_extra_file_in_raw_and_a_fifo_are_reported(sealed: Case) -> None:
    (sealed.raw_dir / "extra.log").write_bytes(b"planted\n")
    os.mkfifo(sealed.root / "pipe")
    kinds = _kinds(sealed)
    assert ("unexpected", "raw/extra.log") in kinds
    assert ("special", "pipe") in kinds


def test_rewritten_catalog_is_reported_and_never_trusted(sealed: Case) -> None:
    before = _count(sealed, "action = 'order.view_unmasked'")
    assert before == 7
    con = duckdb.connect(str(sealed.db_path))
    with_cwd = os.getcwd()
    try:
        os.chdir(sealed.root)
        view = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'events'").fetchone()
        assert view is not None
        hidden = str(view[0]).rstrip(";").replace("CREATE VIEW events AS ", "CREATE OR REPLACE VIEW events AS ")
        con.execute(f"{hidden} WHERE action <> 'order.view_unmasked'")
    finally:
        os.chdir(with_cwd)
        con.close()
    assert _count(sealed, "action = 'order.view_unmasked'") == 7  # forensics builds views from the manifest
    assert ("catalog", "case.duckdb") in _kinds(sealed)


# ---------------------------------------------------------------- case.toml and truncation


def test_case_toml_changed_after_a_sealing_entry_is_reported(sealed: Case) -> None:
    append_custody(sealed, "check", {"case_toml_sha256": sha256_file(sealed.toml_path)})
    assert verify_case(sealed).ok
    text = sealed.toml_path.read_text(encoding="utf-8").replace('end = ""', 'end = "2024-03-02T00:00:00"')
    sealed.toml_path.write_text(text, encoding="utf-8")
    assert ("case_toml", "case.toml") in _kinds(sealed)


def _fake_exhibit(case: Case, name: str, head: dict[str, object] | None) -> Path:
    folder = case.exhibits_dir / name
    folder.mkdir(parents=True)
    (folder / "exhibit.json").write_text("{}", encoding="utf-8")
    body: dict[str, object] = {"files": {}}
    if head is not None:
        body["custody_head"] = head
    (folder / "manifest.json").write_text(json.dumps(body), encoding="utf-8")
    return folder / "manifest.json"


def test_truncated_log_is_caught_by_the_head_an_exhibit_names(sealed: Case) -> None:
    last = read_custody(sealed)[-1]
    manifest = _fake_exhibit(sealed, "E-3", {"seq": last["seq"], "hash": last["hash"]})
    append_custody(sealed, "exhibit", {"exhibit_manifest_sha256": sha256_file(manifest)})
    assert verify_case(sealed).ok
    lines = sealed.custody_path.read_bytes().splitlines(keepends=True)
    sealed.custody_path.write_bytes(b"".join(lines[:-2]))  # sed -i '$d', twice: the exhibit and the last seal
    kinds = _kinds(sealed)
    assert ("truncated", "exhibits/E-3/manifest.json") in kinds


def test_exhibit_folder_without_custody_entry_is_reported(sealed: Case) -> None:
    _fake_exhibit(sealed, "E-9", None)
    assert ("truncated", "exhibits/E-9/manifest.json") in _kinds(sealed)


# ---------------------------------------------------------------- one writer at a time


def test_second_writer_fails_at_once_naming_the_holder(sealed: Case, tmp_path: Path, tiny_format: str) -> None:
    (tmp_path / "c.log").write_bytes(LOG.replace(b"user", b"other"))
    errors: list[str] = []

    def ingest() -> None:
        try:
            ingest_paths(sealed, [tmp_path / "c.log"], IngestOptions(format=tiny_format, source="app"))
        except ForensicsError as exc:
            errors.append(str(exc))

    with case_lock(sealed, "check"):
        worker = threading.Thread(target=ingest)
        worker.start()
        worker.join()
    assert len(errors) == 1
    assert f"pid {os.getpid()}" in errors[0] and "`check`" in errors[0] and os.uname().nodename in errors[0]
    assert len(sealed.manifest()["inputs"]) == 2  # nothing was written
    assert not (sealed.root / ".lock").exists()


def test_concurrent_ingests_leave_a_case_that_verifies(sealed: Case, tmp_path: Path, tiny_format: str) -> None:
    paths = []
    for n in range(4):
        p = tmp_path / f"c{n}.log"
        p.write_bytes(LOG.replace(b"user", f"u{n}x".encode()))
        paths.append(p)
    outcomes: list[str] = []

    def ingest(path: Path) -> None:
        try:
            ingest_paths(sealed, [path], IngestOptions(format=tiny_format, source="app"))
            outcomes.append("done")
        except ForensicsError as exc:
            assert "in use by another run" in str(exc)
            outcomes.append("refused")

    threads = [threading.Thread(target=ingest, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "done" in outcomes and len(outcomes) == 4
    assert verify_case(sealed).ok, verify_case(sealed).problems
    assert len(sealed.manifest()["inputs"]) == 2 + outcomes.count("done")
    assert not (sealed.root / ".staging").exists()


def test_lock_left_by_a_dead_run_is_taken_over_with_a_notice(sealed: Case, tmp_path: Path, tiny_format: str) -> None:
    holder = {"pid": 2**22 + 12345, "host": os.uname().nodename, "command": "ingest", "since": "2024-01-01T00:00:00Z"}
    (sealed.root / ".lock").write_text(json.dumps(holder), encoding="utf-8")
    (tmp_path / "c.log").write_bytes(LOG.replace(b"user", b"late"))
    report = ingest_paths(sealed, [tmp_path / "c.log"], IngestOptions(format=tiny_format, source="app"))
    assert report.notice is not None and "no longer running" in report.notice and "forensics verify" in report.notice
    assert verify_case(sealed).ok


def test_lock_of_another_host_is_never_taken_over(sealed: Case) -> None:
    holder = {"pid": 1, "host": "elsewhere.example", "command": "exhibit", "since": "2024-01-01T00:00:00Z"}
    (sealed.root / ".lock").write_text(json.dumps(holder), encoding="utf-8")
    with pytest.raises(ForensicsError, match=r"elsewhere\.example.*`exhibit`"), case_lock(sealed, "retract"):
        pass
    assert (sealed.root / ".lock").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_case_is_refused_before_anything_is_written(sealed: Case, tmp_path: Path, tiny_format: str) -> None:
    (tmp_path / "c.log").write_bytes(LOG.replace(b"user", b"ro"))
    before = sealed.manifest_path.read_bytes()
    sealed.root.chmod(0o555)
    try:
        with pytest.raises(ForensicsError, match="read-only"):
            ingest_paths(sealed, [tmp_path / "c.log"], IngestOptions(format=tiny_format, source="app"))
    finally:
        sealed.root.chmod(0o755)
    assert sealed.manifest_path.read_bytes() == before


# ---------------------------------------------------------------- check verifies first


def test_check_refuses_a_case_that_fails_the_fast_verify(sealed: Case) -> None:
    from forensics.checkrun import check_case, require_verified

    (sealed.raw_dir / "extra.log").write_bytes(b"planted\n")
    with pytest.raises(ForensicsError, match=r"fails verification .*raw/extra\.log.*--allow-unverified"):
        check_case(sealed, None, {})
    assert [e["action"] for e in read_custody(sealed)][-1] == "ingest"  # nothing recorded
    assert any("raw/extra.log" in line for line in require_verified(sealed, allow_unverified=True))


def test_fast_verify_skips_row_digests_but_deep_verify_does_not(sealed: Case) -> None:
    import polars as pl

    target = sorted(sealed.events_dir.rglob("*.parquet"))[0]
    frame = pl.read_parquet(target, hive_partitioning=False)
    frame.with_columns(pl.lit("forged").alias("actor_id")).write_parquet(target)
    assert not verify_case(sealed, deep=False).ok  # the file hash already differs
    assert "rows" not in {p.kind for p in verify_case(sealed, deep=False).problems}
    assert "rows" in {p.kind for p in verify_case(sealed).problems}


# ---------------------------------------------------------------- retract (issue 11)


def test_retract_removes_rows_keeps_them_sealed_and_allows_reingest(
    sealed: Case, tmp_path: Path, tiny_format: str
) -> None:
    from forensics.retract import retract_input

    sha = sha256_file(tmp_path / "b.log")
    assert _count(sealed, "actor_id LIKE 'admin%'") == 7
    retract_input(sealed, sha[:12], "ingested with the wrong source name")
    assert _count(sealed, "actor_id LIKE 'admin%'") == 0
    con = sealed.connect()
    assert con.execute("SELECT count(*) FROM inputs WHERE sha256 = $s", {"s": sha}).fetchone() == (0,)
    con.close()
    report = verify_case(sealed)
    assert report.ok, report.problems
    assert [(r["sha256"], r["reason"]) for r in report.retracted] == [(sha, "ingested with the wrong source name")]
    assert read_custody(sealed)[-1]["action"] == "retract"
    entry = next(i for i in sealed.manifest()["inputs"] if i["sha256"] == sha)
    assert entry["retracted"]["custody_seq"] == read_custody(sealed)[-1]["seq"]
    # the same file again, now under its right source name: not "already in case: skipped"
    again = ingest_paths(sealed, [tmp_path / "b.log"], IngestOptions(format=tiny_format, source="admin_api"))
    assert not again.files[0].skipped_duplicate
    assert _count(sealed, "actor_id LIKE 'admin%' AND source = 'admin_api'") == 7
    assert _count(sealed, "actor_id LIKE 'admin%'") == 7
    assert verify_case(sealed, reparse=True).ok, verify_case(sealed).problems


def test_retract_refuses_unknown_and_already_retracted_inputs(sealed: Case, tmp_path: Path) -> None:
    from forensics.retract import retract_input

    with pytest.raises(ForensicsError, match="no input"):
        retract_input(sealed, "deadbeefdeadbeef", "typo")
    sha = sha256_file(tmp_path / "a.log")
    retract_input(sealed, sha, "wrong format")
    with pytest.raises(ForensicsError, match="already retracted"):
        retract_input(sealed, sha, "again")


def test_retracted_rows_are_still_verified(sealed: Case, tmp_path: Path) -> None:
    from forensics.retract import retract_input

    sha = sha256_file(tmp_path / "b.log")
    retract_input(sealed, sha, "wrong mapping")
    target = next(p for p in sealed.events_dir.rglob("*.parquet") if p.name.startswith(sha[:16]))
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    assert ("parquet", target.relative_to(sealed.root).as_posix()) in _kinds(sealed)


# ---------------------------------------------------------------- on the guilty sample


@pytest.fixture(scope="module")
def guilty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(world folder, case folder): the guilty sample ingested with --preserve, as README shows."""
    from forensics.case import init_case
    from forensics.ingest import ingest_plan
    from forensics.sample import generate

    root = tmp_path_factory.mktemp("guilty")
    world = generate(root / "world", variant="guilty", events=2_000, seed=5).out_dir
    case = init_case(root / "case")
    shutil.copyfile(world / "case.toml", case.toml_path)
    ingest_plan(case, world / "plan.toml", IngestOptions(preserve=True))
    return world, case.root


def _copy(guilty: tuple[Path, Path], tmp_path: Path) -> Case:
    target = tmp_path / "case"
    shutil.copytree(guilty[1], target, symlinks=True)
    return Case(target)


def test_check_seals_case_toml_params_and_pack(guilty: tuple[Path, Path], tmp_path: Path) -> None:
    from forensics.checkrun import check_case, params_digest

    case = _copy(guilty, tmp_path)
    result, unverified = check_case(case, None, {})
    assert unverified == []
    entry = read_custody(case)[-1]
    assert entry["action"] == "check"
    details = entry["details"]
    assert details["case_toml_sha256"] == sha256_file(case.toml_path)
    assert details["params_sha256"] == params_digest(result.params)
    assert details["pack"]["name"] == "order-leak"
    assert details["pack"]["sql_sha256"] == {c.id: c.sql_sha256 for c in result.pack.checks}
    assert verify_case(case, deep=False).ok
    # the window end moved after the check: the result no longer matches the case
    text = case.toml_path.read_text(encoding="utf-8")
    case.toml_path.write_text(text.replace("[window]", "[window]\n# edited after the check"), encoding="utf-8")
    assert ("case_toml", "case.toml") in _kinds(case)
    # the user's next question: a new check runs on the edited case.toml and seals it
    check_case(case, None, {})
    assert read_custody(case)[-1]["details"]["case_toml_sha256"] == sha256_file(case.toml_path)
    assert verify_case(case, deep=False).ok


def _reseal(case: Case, parquet: Path, column: str, value: str) -> None:
    """What an expert can do from the public formulas: edit rows, recompute every unkeyed seal."""
    import polars as pl

    from forensics.seal import _entry_hash, canonical_json, hash_file, manifest_seal, with_row_digests, write_manifest

    frame = pl.read_parquet(parquet, hive_partitioning=False)
    frame = with_row_digests(frame.with_columns(pl.lit(value).alias(column)))
    frame.write_parquet(parquet)
    manifest = case.manifest()
    rel = parquet.relative_to(case.root).as_posix()
    out = next(o for o in manifest["outputs"] if o["path"] == rel)
    h = hash_file(parquet)
    out.update(sha256=h.sha256, sm3=h.sm3, bytes=h.size)
    con = duckdb.connect()
    files = [
        str(case.root / o["path"])
        for o in manifest["outputs"]
        if o["kind"] == "events" and o["input_sha256"] == out["input_sha256"]
    ]
    digests = [
        r[0]
        for r in con.execute(
            "SELECT row_digest FROM read_parquet($f) ORDER BY line_no, byte_offset", {"f": files}
        ).fetchall()
    ]
    con.close()
    from forensics.seal import merkle_root

    item = next(i for i in manifest["inputs"] if i["sha256"] == out["input_sha256"])
    item["merkle_root"] = merkle_root(digests)
    write_manifest(case, manifest)
    entries = read_custody(case)
    entries[-1]["details"]["manifest_sha256"] = manifest_seal(manifest)
    entries[-1]["hash"] = _entry_hash(entries[-1])
    case.custody_path.write_text("".join(canonical_json(e) + "\n" for e in entries), encoding="utf-8")


def test_full_reseal_passes_plain_verify_but_not_reparse(guilty: tuple[Path, Path], tmp_path: Path) -> None:
    case = _copy(guilty, tmp_path)
    target = sorted((case.events_dir / "source=merchant_backend").rglob("*.parquet"))[0]
    _reseal(case, target, "actor_id", "somebody_else")
    assert verify_case(case).ok  # an unkeyed seal can be recomputed: that is what witnesses are for
    report = verify_case(case, reparse=True)
    assert not report.ok
    assert any(p.kind == "reparse" and "stored rows were changed" in p.detail for p in report.problems)


def test_reparse_of_an_untouched_case_is_clean(guilty: tuple[Path, Path]) -> None:
    report = verify_case(Case(guilty[1]), reparse=True)
    assert report.ok, report.problems
    assert report.checked["reparsed_inputs"] == len(Case(guilty[1]).manifest()["inputs"])


def test_cli_retract_then_verify_lists_it(guilty: tuple[Path, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from forensics.cli import main

    case = _copy(guilty, tmp_path)
    item = case.manifest()["inputs"][0]
    runner = CliRunner()
    done = runner.invoke(main, ["retract", str(case.root), item["sha256"][:16], "--reason", "wrong mapping"])
    assert done.exit_code == 0, done.output
    assert "retracted" in done.output
    shown = runner.invoke(main, ["verify", str(case.root)])
    assert shown.exit_code == 0, shown.output
    assert f"retracted: {item['path']}" in shown.output and "wrong mapping" in shown.output
    (case.raw_dir / "planted.log").write_text("x", encoding="utf-8")
    refused = runner.invoke(main, ["check", str(case.root)])
    assert refused.exit_code == 1 and "--allow-unverified" in refused.output
    allowed = runner.invoke(main, ["check", str(case.root), "--allow-unverified"])
    assert allowed.exit_code == 0, allowed.output
    assert "UNVERIFIED unexpected: raw/planted.log" in allowed.output


def test_a_case_given_by_a_relative_path_verifies(
    sealed: Case, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_format: str
) -> None:
    (tmp_path / "c.log").write_bytes(LOG.replace(b"user", b"rel"))
    monkeypatch.chdir(tmp_path)
    relative = Case(Path(sealed.root.relative_to(tmp_path)))
    ingest_paths(relative, [Path("c.log")], IngestOptions(format=tiny_format, source="app"))
    assert verify_case(relative).ok, verify_case(relative).problems
    assert _count(relative) == _count(sealed)


def test_cli_exhibit_refuses_a_tampered_case(guilty: tuple[Path, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from forensics.cli import main

    case = _copy(guilty, tmp_path)
    listed = sorted(case.events_dir.rglob("*.parquet"))[0]
    (listed.parent / "planted.parquet").write_bytes(listed.read_bytes())
    refused = CliRunner().invoke(main, ["exhibit", str(case.root)])
    assert refused.exit_code == 1
    assert "fails verification" in refused.output and "planted.parquet" in refused.output
    assert not any(case.exhibits_dir.iterdir())
    assert not (case.root / ".lock").exists()


def test_two_ingest_processes_at_once_leave_a_case_that_verifies(tmp_path: Path) -> None:
    """The reproduced race, with real processes: each run either ingests or is refused at once."""
    import subprocess
    import sys

    from forensics.case import init_case

    case = init_case(tmp_path / "case")
    logs = []
    for n in range(2):
        path = tmp_path / f"access-{n}.log"
        lines = [
            f'10.0.0.{n} - - [05/Mar/2024:10:{m // 60:02d}:{m % 60:02d} +0800] '
            f'"GET /order/{n}/{m} HTTP/1.1" 200 5 "-" "ua"'
            for m in range(3000)
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        logs.append(path)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    code = "import sys; from forensics.cli import main; sys.exit(main())"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code, "ingest", str(case.root), str(p), "--format", "nginx", "--source", "api"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in logs
    ]
    results = [(r.wait(timeout=300), r.stderr.read() if r.stderr else "") for r in runs]
    for status, err in results:
        assert status == 0 or (status == 1 and "in use by another run" in err), err
    done = sum(1 for status, _ in results if status == 0)
    assert done >= 1
    assert len(case.manifest()["inputs"]) == done
    assert verify_case(case).ok, verify_case(case).problems
    assert not (case.root / ".staging").exists() and not (case.root / ".lock").exists()


def test_head_named_in_exhibit_json_is_checked_too(sealed: Case) -> None:
    last = read_custody(sealed)[-1]
    manifest = _fake_exhibit(sealed, "E-4", None)
    record = manifest.parent / "exhibit.json"
    record.write_text(json.dumps({"custody_head": {"seq": last["seq"], "hash": "0" * 64}}), encoding="utf-8")
    append_custody(sealed, "exhibit", {"exhibit_manifest_sha256": sha256_file(manifest)})
    assert ("truncated", "exhibits/E-4/exhibit.json") in _kinds(sealed)
