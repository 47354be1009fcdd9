"""Witnesses outside the case: a forger who recomputes every unkeyed seal is caught once the case is
signed (Ed25519, SM2) or timestamped (RFC 3161, a local TSA made with `openssl ts`, no network)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.case import Case
from forensics.cli import main
from forensics.custody import (
    GENESIS,
    _entry_hash,
    append_custody,
    canonical_json,
    hash_file,
    manifest_seal,
    manifest_text,
    merkle_root,
    row_digests,
)
from forensics.errors import ForensicsError, UsageError
from forensics.ingest import IngestOptions, ingest_paths
from forensics.schema import EVENT_COLUMNS
from forensics.witness import (
    sign_case,
    statement_bytes,
    statement_digest,
    timestamp_attach,
    timestamp_request,
    verify_witnesses,
)
from forensics.witness_crypto import keygen, load_public_key, parse_reply

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing (scripts/setup.sh)")


def _log(first: int, n: int) -> bytes:
    return b"".join(f"2024-03-01T10:{m:02d}:00Z user{m} order.view\n".encode() for m in range(first, first + n))


@pytest.fixture
def sealed(case: Case, tiny_format: str, tmp_path: Path) -> Case:
    """Two ingest batches, so the last one can be dropped."""
    for name, first in (("a.log", 0), ("b.log", 30)):
        path = tmp_path / name
        path.write_bytes(_log(first, 20))
        ingest_paths(case, [path], IngestOptions(format=tiny_format, source="app"))
    return case


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    keygen(folder / "ours", "ed25519")
    keygen(folder / "other", "ed25519")
    if shutil.which("openssl"):
        keygen(folder / "gm", "sm2")
    return folder


# ---------------------------------------------------------------- a local TSA

TSA_CNF = """
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.crt
certs = {dir}/tsa.crt
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_tsa(folder: Path, name: str) -> Path:
    """A CA and a TSA certificate (extendedKeyUsage critical timeStamping) under FOLDER."""
    folder.mkdir()
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
         "-subj", f"/CN={name} Root", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", f"/CN={name}",
         cwd=folder)  # fmt: skip
    (folder / "tsa.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n"
    )
    _run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "tsa.crt", "-days", "30", "-extfile", "tsa.ext", cwd=folder)  # fmt: skip
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(TSA_CNF.format(dir=folder))
    return folder


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI missing (scripts/setup.sh installs it)")
    return _make_tsa(tmp_path_factory.mktemp("tsa") / "good", "Test TSA")


def _reply(tsa_dir: Path, tsq: Path, out: Path) -> Path:
    _run("ts", "-reply", "-config", str(tsa_dir / "tsa.cnf"), "-queryfile", str(tsq), "-out", str(out), cwd=tsa_dir)
    return out


def _timestamp(case: Case, tsa_dir: Path, tmp_path: Path) -> Path:
    tsq = tmp_path / "q.tsq"
    timestamp_request(case, tsq)
    tsr = _reply(tsa_dir, tsq, tmp_path / "r.tsr")
    timestamp_attach(case, tsr, [tsa_dir / "ca.crt"])
    tsq.unlink()
    return tsr


# ---------------------------------------------------------------- a forger who knows the public formulas


def _reseal(case: Case, rechain: bool = True) -> None:
    """Edit a row, then recompute row digests, Parquet hashes, Merkle roots, manifest and custody chain."""
    manifest = json.loads(case.manifest_path.read_text())
    outputs = [o for o in manifest["outputs"] if o["kind"] == "events"]
    first = case.root / outputs[0]["path"]
    events = pl.read_parquet(first)
    events = events.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("forged")).otherwise(pl.col("actor_id")).alias("actor_id")
    )
    events = events.with_columns(row_digests(events.select(EVENT_COLUMNS)).alias("row_digest"))
    events.write_parquet(first)
    for out in outputs:
        digests = hash_file(case.root / out["path"])
        out["sha256"], out["sm3"], out["bytes"] = digests.sha256, digests.sm3, digests.size
    every = pl.concat([pl.read_parquet(case.root / o["path"]) for o in outputs])
    for item in manifest["inputs"]:
        mine = every.filter(pl.col("src_sha256") == item["sha256"]).sort(["line_no", "byte_offset"])
        item["merkle_root"] = merkle_root(mine["row_digest"].to_list())
    case.manifest_path.write_text(manifest_text(manifest))
    if rechain:
        _rechain(case, lambda e: e, manifest_seal(manifest))
    else:  # keep the signed head, append an entry that "explains" the new manifest
        append_custody(case, "ingest", {"manifest_sha256": manifest_seal(manifest)})


def _rechain(case: Case, keep: Callable[[list[dict]], list[dict]], seal: str | None = None) -> None:
    entries = keep([json.loads(line) for line in case.custody_path.read_text().splitlines()])
    prev = GENESIS
    sealing = [e for e in entries if "manifest_sha256" in e["details"]]
    for n, entry in enumerate(entries, 1):
        if seal is not None and sealing and entry is sealing[-1]:
            entry["details"]["manifest_sha256"] = seal
        entry["seq"], entry["prev_hash"] = n, prev
        entry["hash"] = _entry_hash(entry)
        prev = entry["hash"]
    case.custody_path.write_text("".join(canonical_json(e) + "\n" for e in entries))


def _kinds(report: object) -> set[str]:
    return {p.kind for p in report.problems}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- signatures


def test_signed_case_verifies_and_names_the_signed_head(sealed: Case, key_dir: Path) -> None:
    done = sign_case(sealed, key_dir / "ours")
    report = verify_witnesses(sealed, [key_dir / "ours.pub"])
    assert report.problems == []
    fp = load_public_key(key_dir / "ours.pub").fingerprint
    head = done["signed_head_seq"]
    assert any(n.startswith(f"signed by {fp}") and f"custody head seq {head} " in n for n in report.notes)
    # the sign step itself comes after the signed head: reported, not a failure
    assert any(f"custody entry {head + 1} (sign) not covered" in n for n in report.notes)


def test_statement_bytes_are_checkable_without_our_code(sealed: Case, key_dir: Path) -> None:
    """The README promise: the stored statement + signature verify with plain OpenSSL."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI missing")
    witness = Path(sign_case(sealed, key_dir / "ours")["witness"])
    record = json.loads(witness.read_text())
    msg, sig = witness.with_suffix(".bin"), witness.with_suffix(".sig")
    msg.write_bytes(json.dumps(record["statement"], sort_keys=True, separators=(",", ":")).encode())
    sig.write_bytes(__import__("base64").b64decode(record["signature_base64"]))
    args = ["pkeyutl", "-verify", "-pubin", "-inkey", str(key_dir / "ours.pub"), "-rawin", "-in", str(msg)]
    done = subprocess.run(["openssl", *args, "-sigfile", str(sig)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert msg.read_bytes() == statement_bytes(record["statement"])


@needs_openssl
def test_sm2_signature_verifies_and_a_changed_byte_does_not(sealed: Case, key_dir: Path) -> None:
    done = sign_case(sealed, key_dir / "gm", "sm2")
    assert done["algorithm"] == "sm2-sm3"
    assert verify_witnesses(sealed, [key_dir / "gm.pub"]).problems == []
    witness = Path(done["witness"])
    record = json.loads(witness.read_text())
    sig = bytearray(__import__("base64").b64decode(record["signature_base64"]))
    sig[-3] ^= 0x01
    record["signature_base64"] = __import__("base64").b64encode(bytes(sig)).decode()
    witness.write_text(json.dumps(record))
    assert _kinds(verify_witnesses(sealed, [key_dir / "gm.pub"])) == {"signature", "unsigned"}


def test_signature_by_an_untrusted_key_is_not_accepted(sealed: Case, key_dir: Path) -> None:
    sign_case(sealed, key_dir / "other")
    report = verify_witnesses(sealed, [key_dir / "ours.pub"])
    assert _kinds(report) == {"unsigned"}
    assert any("key not trusted" in n for n in report.notes)


def test_forged_signature_file_claiming_a_trusted_fingerprint_fails(sealed: Case, key_dir: Path) -> None:
    """The forger's own key, the trusted key's fingerprint written into the file: the trusted key decides."""
    witness = Path(sign_case(sealed, key_dir / "other")["witness"])
    record = json.loads(witness.read_text())
    record["key_fingerprint"] = load_public_key(key_dir / "ours.pub").fingerprint
    record["public_key_pem"] = (key_dir / "ours.pub").read_text()
    witness.write_text(json.dumps(record))
    assert _kinds(verify_witnesses(sealed, [key_dir / "ours.pub"])) == {"signature", "unsigned"}


def test_without_trust_signatures_are_listed_not_checked(sealed: Case, key_dir: Path) -> None:
    sign_case(sealed, key_dir / "ours")
    report = verify_witnesses(sealed)
    assert report.problems == []
    assert any("not checked against a trusted key" in n for n in report.notes)


def test_full_reseal_after_signing_is_caught(sealed: Case, key_dir: Path) -> None:
    sign_case(sealed, key_dir / "ours")
    _reseal(sealed)
    assert "witness-forked" in _kinds(verify_witnesses(sealed, [key_dir / "ours.pub"]))


def test_full_reseal_that_also_removes_the_signature_fails_with_trust(sealed: Case, key_dir: Path) -> None:
    sign_case(sealed, key_dir / "ours")
    shutil.rmtree(sealed.root / "witnesses")
    _reseal(sealed)
    _rechain(sealed, lambda es: [e for e in es if e["action"] != "sign"])
    assert verify_witnesses(sealed).problems == []  # nothing left to see without a key to expect ...
    assert _kinds(verify_witnesses(sealed, [key_dir / "ours.pub"])) == {"unsigned"}  # ... with one, caught


def test_reseal_that_keeps_the_signed_head_and_appends_is_caught(sealed: Case, key_dir: Path) -> None:
    """The signed prefix of the log is intact; the rows it sealed were changed and re-sealed after it."""
    sign_case(sealed, key_dir / "ours")
    _reseal(sealed, rechain=False)
    assert _kinds(verify_witnesses(sealed, [key_dir / "ours.pub"])) == {"witness-evidence"}


def test_ingest_after_signing_is_not_covered_but_not_a_failure(
    sealed: Case, key_dir: Path, tiny_format: str, tmp_path: Path
) -> None:
    sign_case(sealed, key_dir / "ours")
    later = tmp_path / "later.log"
    later.write_bytes(_log(50, 5))
    ingest_paths(sealed, [later], IngestOptions(format=tiny_format, source="app"))
    report = verify_witnesses(sealed, [key_dir / "ours.pub"])
    assert report.problems == []
    assert any("(ingest, sign) not covered by the signature" in n for n in report.notes)


def test_tail_truncation_after_signing_is_caught(sealed: Case, key_dir: Path) -> None:
    sign_case(sealed, key_dir / "ours")
    lines = sealed.custody_path.read_text().splitlines(keepends=True)
    sealed.custody_path.write_text("".join(lines[:-1]))  # sed -i '$d' custody.log
    assert "witness-unrecorded" in _kinds(verify_witnesses(sealed, [key_dir / "ours.pub"]))
    sealed.custody_path.write_text("".join(lines[:-2]))  # and the signed head itself
    assert "witness-truncated" in _kinds(verify_witnesses(sealed, [key_dir / "ours.pub"]))


def test_dropping_the_last_ingest_batch_after_signing_is_caught(sealed: Case, key_dir: Path) -> None:
    sign_case(sealed, key_dir / "ours")
    manifest = json.loads(sealed.manifest_path.read_text())
    last = manifest["inputs"][-1]["sha256"]
    for out in manifest["outputs"]:
        if out["input_sha256"] == last:
            (sealed.root / out["path"]).unlink()
    manifest["inputs"] = manifest["inputs"][:-1]
    manifest["outputs"] = [o for o in manifest["outputs"] if o["input_sha256"] != last]
    sealed.manifest_path.write_text(manifest_text(manifest))
    entries = sealed.custody_path.read_text().splitlines(keepends=True)
    last_ingest = max(i for i, line in enumerate(entries) if '"action":"ingest"' in line)
    sealed.custody_path.write_text("".join(entries[:last_ingest]))
    kinds = _kinds(verify_witnesses(sealed, [key_dir / "ours.pub"]))
    assert {"witness-truncated", "witness-evidence"} <= kinds


def test_case_toml_edited_after_signing_is_caught(sealed: Case, key_dir: Path) -> None:
    sign_case(sealed, key_dir / "ours")
    sealed.toml_path.write_text(sealed.toml_path.read_text() + "\n# window moved\n")
    assert "witness-case-toml" in _kinds(verify_witnesses(sealed, [key_dir / "ours.pub"]))


def test_a_case_that_fails_verify_is_not_signed(sealed: Case, key_dir: Path) -> None:
    target = sorted(sealed.events_dir.rglob("*.parquet"))[0]
    target.write_bytes(target.read_bytes()[:-1])
    with pytest.raises(ForensicsError, match="fails verify"):
        sign_case(sealed, key_dir / "ours")
    assert not (sealed.root / "witnesses").exists() or not list((sealed.root / "witnesses").glob("signature-*"))


@pytest.mark.parametrize("algorithm", ["ed25519", pytest.param("sm2", marks=needs_openssl)])
def test_encrypted_key_signs_with_the_passphrase_from_the_environment(
    sealed: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    monkeypatch.setenv("FORENSICS_KEY_PASSPHRASE", "correct horse")
    keygen(tmp_path / "enc", algorithm)
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "enc").read_bytes()
    monkeypatch.delenv("FORENSICS_KEY_PASSPHRASE")
    with pytest.raises(UsageError, match="FORENSICS_KEY_PASSPHRASE"):
        sign_case(sealed, tmp_path / "enc")
    monkeypatch.setenv("FORENSICS_KEY_PASSPHRASE", "wrong")
    with pytest.raises((UsageError, ForensicsError)):
        sign_case(sealed, tmp_path / "enc")
    monkeypatch.setenv("FORENSICS_KEY_PASSPHRASE", "correct horse")
    sign_case(sealed, tmp_path / "enc")
    assert verify_witnesses(sealed, [tmp_path / "enc.pub"]).problems == []


def test_keys_are_never_overwritten_and_private_keys_are_not_trusted(key_dir: Path) -> None:
    with pytest.raises(UsageError, match="never overwrites"):
        keygen(key_dir / "ours")
    with pytest.raises(UsageError, match="PUBLIC KEY"):
        load_public_key(key_dir / "ours")
    assert (key_dir / "ours").stat().st_mode & 0o077 == 0


def test_cli_sign_and_verify_trust(sealed: Case, key_dir: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["sign", str(sealed.root), "--key", str(key_dir / "ours")])
    assert done.exit_code == 0, done.output
    done = runner.invoke(main, ["verify", str(sealed.root), "--trust", str(key_dir / "ours.pub")])
    assert done.exit_code == 0, done.output
    assert "info: signed by sha256:" in done.output
    done = runner.invoke(main, ["verify", str(sealed.root), "--trust", str(key_dir / "other.pub")])
    assert done.exit_code == 1
    assert "MISMATCH unsigned" in done.output


# ---------------------------------------------------------------- RFC 3161


def test_timestamp_attach_and_verify(sealed: Case, tsa: Path, tmp_path: Path) -> None:
    _timestamp(sealed, tsa, tmp_path)
    report = verify_witnesses(sealed, tsa_certs=[tsa / "ca.crt"])
    assert report.problems == []
    assert any(n.startswith("sealed no later than ") and "by TSA Common Name: Test TSA" in n for n in report.notes)


def test_full_reseal_after_timestamp_is_caught(sealed: Case, tsa: Path, tmp_path: Path) -> None:
    _timestamp(sealed, tsa, tmp_path)
    _reseal(sealed)
    assert "witness-forked" in _kinds(verify_witnesses(sealed, tsa_certs=[tsa / "ca.crt"]))


def test_tampered_reply_is_refused_at_attach(sealed: Case, tsa: Path, tmp_path: Path) -> None:
    tsq = tmp_path / "q.tsq"
    timestamp_request(sealed, tsq)
    tsr = _reply(tsa, tsq, tmp_path / "r.tsr")
    data = bytearray(tsr.read_bytes())
    data[-5] ^= 0x01  # inside the CMS signature
    bad = tmp_path / "bad.tsr"
    bad.write_bytes(bytes(data))
    with pytest.raises(ForensicsError, match=r"does not verify|not a valid"):
        timestamp_attach(sealed, bad, [tsa / "ca.crt"])
    assert not list((sealed.root / "witnesses").glob("timestamp-*"))
    timestamp_attach(sealed, tsr, [tsa / "ca.crt"])  # the genuine reply still attaches


def test_reply_from_another_tsa_or_request_is_refused(sealed: Case, tsa: Path, tmp_path: Path) -> None:
    rogue = _make_tsa(tmp_path / "rogue", "Rogue TSA")
    tsq = tmp_path / "q.tsq"
    timestamp_request(sealed, tsq)
    with pytest.raises(ForensicsError, match="does not verify"):
        timestamp_attach(sealed, _reply(rogue, tsq, tmp_path / "rogue.tsr"), [tsa / "ca.crt"])
    other = tmp_path / "other.tsq"
    _run("ts", "-query", "-digest", "ab" * 32, "-sha256", "-cert", "-out", str(other), cwd=tmp_path)
    with pytest.raises(ForensicsError, match="no pending request"):
        timestamp_attach(sealed, _reply(tsa, other, tmp_path / "other.tsr"), [tsa / "ca.crt"])


def test_altered_pending_request_is_refused(sealed: Case, tsa: Path, tmp_path: Path) -> None:
    """Editing the pending statement while the TSA works would attach trusted time to a forged seal."""
    tsq = tmp_path / "q.tsq"
    timestamp_request(sealed, tsq)
    pending = next((sealed.root / "witnesses" / "pending").glob("*.json"))
    record = json.loads(pending.read_text())
    record["statement"]["manifest_seal"] = "f" * 64
    pending.write_text(json.dumps(record))
    with pytest.raises(ForensicsError, match="damaged or was altered"):
        timestamp_attach(sealed, _reply(tsa, tsq, tmp_path / "r.tsr"), [tsa / "ca.crt"])


def test_stored_reply_changed_after_attach_is_caught(sealed: Case, tsa: Path, tmp_path: Path) -> None:
    _timestamp(sealed, tsa, tmp_path)
    stored = next((sealed.root / "witnesses").glob("timestamp-*.tsr"))
    data = bytearray(stored.read_bytes())
    data[-5] ^= 0x01
    stored.write_bytes(bytes(data))
    assert "timestamp" in _kinds(verify_witnesses(sealed, tsa_certs=[tsa / "ca.crt"]))


def test_cli_timestamp_round_trip(sealed: Case, tsa: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    tsq = tmp_path / "cli.tsq"
    done = runner.invoke(main, ["timestamp", str(sealed.root), "--request", str(tsq)])
    assert done.exit_code == 0, done.output
    tsr = _reply(tsa, tsq, tmp_path / "cli.tsr")
    done = runner.invoke(main, ["timestamp", str(sealed.root), "--attach", str(tsr), "--tsa-cert", str(tsa / "ca.crt")])
    assert done.exit_code == 0, done.output
    done = runner.invoke(main, ["verify", str(sealed.root), "--tsa-cert", str(tsa / "ca.crt")])
    assert done.exit_code == 0 and "info: sealed no later than" in done.output, done.output
    done = runner.invoke(main, ["timestamp", str(sealed.root)])
    assert done.exit_code == 2


# ---------------------------------------------------------------- parsers never crash

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=12,
)


@given(
    statement=st.fixed_dictionaries(
        {"format": st.sampled_from(["forensics-witness/1", "x"]), "custody_head": _JSON, "manifest_seal": _JSON}
    )
    | _JSON,
    kind=st.sampled_from(["signature", "timestamp", None]),
)
def test_any_witness_file_is_named_never_a_crash(
    tmp_path_factory: pytest.TempPathFactory, statement: object, kind: str | None
) -> None:
    root = tmp_path_factory.mktemp("forged")
    case = Case(root)
    case.custody_path.write_text("")
    case.manifest_path.write_text("{}")
    case.toml_path.write_text("")
    (root / "witnesses").mkdir()
    record = {"kind": kind, "statement": statement, "statement_sha256": "0" * 64, "reply": "../x.tsr"}
    (root / "witnesses" / f"{kind or 'signature'}-1.json").write_text(json.dumps(record))
    report = verify_witnesses(case)
    assert [p.kind for p in report.problems] == ["witness"]


_HEX = st.text("0123456789abcdef", min_size=64, max_size=64)


@settings(deadline=None)  # runs verify per example: over 200 ms on a loaded machine
@given(seq=st.integers(1, 5), head=_HEX, seal=_HEX, toml=_HEX, kind=st.sampled_from(["signature", "timestamp"]))
def test_well_formed_forged_witness_on_a_bare_case_is_named(
    tmp_path_factory: pytest.TempPathFactory, seq: int, head: str, seal: str, toml: str, kind: str
) -> None:
    """A forged witness with a valid digest reaches the deeper checks: named problems, no traceback."""
    root = tmp_path_factory.mktemp("forged")
    case = Case(root)
    case.custody_path.write_text("")
    case.manifest_path.write_text("[]")
    case.toml_path.write_text("")
    (root / "witnesses").mkdir()
    statement = {"format": "forensics-witness/1", "custody_head": {"seq": seq, "hash": head},
                 "manifest_seal": seal, "case_toml_sha256": toml}  # fmt: skip
    record = {"kind": kind, "statement": statement, "statement_sha256": statement_digest(statement),
              "reply": "../../x.tsr", "signature_base64": "!!", "key_fingerprint": "sha256:00"}  # fmt: skip
    (root / "witnesses" / f"{kind}-1.json").write_text(json.dumps(record))
    (root / "witnesses" / f"manifest-{seal}.json").write_text("not json")
    kinds = {p.kind for p in verify_witnesses(case).problems}
    assert "witness-truncated" in kinds
    assert kinds <= {"witness-truncated", "witness-unrecorded", "witness-case-toml", "witness-manifest", "timestamp"}


@given(st.binary(max_size=300))
def test_parse_reply_on_any_bytes_raises_one_clear_error(data: bytes) -> None:
    try:
        parse_reply(data, "x.tsr")
    except ForensicsError as exc:
        assert str(exc).startswith("x.tsr: ")


@pytest.fixture(scope="module")
def genuine_reply(tsa: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("reply")
    _run("ts", "-query", "-digest", "cd" * 32, "-sha256", "-cert", "-out", "q.tsq", cwd=folder)
    return _reply(tsa, folder / "q.tsq", folder / "r.tsr").read_bytes()


@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=4))
def test_parse_reply_on_a_damaged_reply_never_crashes(genuine_reply: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(genuine_reply)
    for where, mask in flips:
        data[where % len(data)] ^= mask
    try:
        info = parse_reply(bytes(data), "x.tsr")
    except ForensicsError as exc:
        assert str(exc).startswith("x.tsr: ")
    else:
        assert len(info.imprint) % 2 == 0


@given(st.text(max_size=400))
def test_load_public_key_on_any_text_raises_a_usage_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("pem") / "k.pem"
    path.write_text("-----BEGIN PUBLIC KEY-----\n" + text + "\n-----END PUBLIC KEY-----\n", encoding="utf-8")
    try:
        load_public_key(path)
    except (UsageError, ForensicsError) as exc:
        assert str(exc).startswith(str(path))
