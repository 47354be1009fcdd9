"""Witnesses outside the case: signatures (Ed25519, SM2) and RFC 3161 trusted timestamps.

The primitives (keys, signing, token checks) are in forensics/witness_crypto.py; this module ties them to a case.

Every seal inside the case (row digests, Merkle roots, manifest, custody chain) is unkeyed: someone who
edits rows can recompute all of it from the public formulas. A witness is what they cannot recompute: a
signature by a key they do not hold, or a timestamp token from a time-stamping authority (TSA).

What is witnessed (the *statement*), recomputable without our code:

    {"case_toml_sha256": <hex SHA-256 of the bytes of case.toml>,
     "custody_head": {"hash": <hash of the last custody.log entry>, "seq": <its seq>},
     "format": "forensics-witness/1",
     "manifest_seal": <custody.manifest_seal(manifest): SHA-256 of canonical JSON of {inputs, outputs}>}

The *statement bytes* are its canonical JSON: UTF-8, keys sorted at every level, no spaces
(``separators=(",", ":")``), no trailing newline -- what ``jq -jcS .statement WITNESS.json`` prints.
The *statement digest* is the SHA-256 of the statement bytes.

- Ed25519 (RFC 8032, pure, via ``cryptography``) signs the statement bytes.
  Check: ``openssl pkeyutl -verify -pubin -inkey PUB.pem -rawin -in statement.bin -sigfile sig.bin``.
- SM2 signs the statement bytes with SM3 as the digest (GB/T 32918 / GM/T 0003, signer ID
  "1234567812345678", the GM/T 0009 default) and DER-encodes (r, s). Check:
  ``openssl pkeyutl -verify -pubin -inkey PUB.pem -rawin -in statement.bin -digest sm3
  -pkeyopt distid:1234567812345678 -sigfile sig.bin``.
  SM2 runs through the ``openssl`` command line (OpenSSL >= 3.0): ``cryptography`` has no SM2 signatures,
  and the pure-Python packages on PyPI (gmssl: last release 2023, not constant-time; gmalg, sm-crypto:
  small single-author projects) are less reviewed than OpenSSL's SM2, which Chinese CAs and tools
  interoperate with and which reads/writes standard PKCS#8 / SubjectPublicKeyInfo PEM.
- RFC 3161: the TimeStampReq carries the statement digest (SHA-256), a random 64-bit nonce and certReq.
  Requests are built and replies parsed with ``asn1crypto`` (a pure-Python DER library, no C to crash on a
  hostile reply); the reply's CMS signature, ESS signing-certificate binding, timeStamping EKU, chain,
  imprint and nonce are checked by ``openssl ts -verify``, OpenSSL's reference implementation of RFC 3161,
  rather than by code of our own. Check: ``openssl ts -verify -digest <statement digest> -in X.tsr
  -CAfile TSA-CA.pem``.

A key's fingerprint is ``sha256:`` + the hex SHA-256 of its DER SubjectPublicKeyInfo
(``openssl pkey -pubin -in PUB.pem -outform DER | sha256sum``).

Witness files live in ``CASE/witnesses/``: ``signature-*.json`` (statement, algorithm, public key, fingerprint,
base64 signature), ``timestamp-*.json`` (statement, genTime, TSA, serial) beside the ``.tsr`` reply and the
``.tsq`` request, and ``manifest-<seal>.json``, the {inputs, outputs} that were signed, so verify can name
which sealed evidence changed. A witness checks against the custody log: its head (seq, hash) must still be
in the log with the same hash and an intact chain up to it; the manifest seal recorded at that head and the
current case.toml must match the statement. Custody entries after the head are reported as not covered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forensics.custody import (
    GENESIS,
    Problem,
    _entry_hash,
    append_custody,
    canonical_json,
    manifest_seal,
    now_iso,
    read_custody,
    sha256_file,
)
from forensics.errors import ForensicsError, UsageError
from forensics.seal import _tolerant_custody
from forensics.witness_crypto import (
    SM2_ID,
    PublicKey,
    load_public_key,
    openssl_ts_verify,
    parse_reply,
    private_key_algorithm,
    public_der_of_private,
    read_cert,
    read_reply,
    sign_bytes,
    verify_signature,
)

if TYPE_CHECKING:
    from forensics.case import Case

FORMAT = "forensics-witness/1"


@dataclass
class WitnessReport:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def witnesses_dir(case: Case) -> Path:
    return case.root / "witnesses"


# ---------------------------------------------------------------- the statement


def current_statement(case: Case) -> dict[str, Any]:
    """The seal of the case as it is now (see module docstring)."""
    entries = read_custody(case)
    if not entries:
        raise ForensicsError(f"{case.custody_path}: the custody log is empty; nothing to witness yet")
    head = entries[-1]
    return {
        "format": FORMAT,
        "custody_head": {"seq": head.get("seq"), "hash": head.get("hash")},
        "manifest_seal": manifest_seal(case.manifest()),
        "case_toml_sha256": sha256_file(case.toml_path),
    }


def statement_bytes(statement: dict[str, Any]) -> bytes:
    return canonical_json(statement).encode("utf-8")


def statement_digest(statement: dict[str, Any]) -> str:
    return hashlib.sha256(statement_bytes(statement)).hexdigest()


def _verified_statement(case: Case) -> dict[str, Any]:
    """A witness vouches for the case: refuse to sign or timestamp one that fails verify."""
    from forensics.custody import verify_case

    report = verify_case(case)
    if not report.ok:
        first = report.problems[0]
        raise ForensicsError(
            f"{case.root}: the case fails verify ({len(report.problems)} problem(s), first: {first.kind}: "
            f"{first.path}: {first.detail}); a witness would vouch for it, so none was made"
        )
    statement = current_statement(case)
    _save_manifest_snapshot(case)
    return statement


def _save_manifest_snapshot(case: Case) -> None:
    manifest = case.manifest()
    body = {"inputs": manifest.get("inputs", []), "outputs": manifest.get("outputs", [])}
    path = witnesses_dir(case) / f"manifest-{manifest_seal(manifest)}.json"
    if not path.exists():
        _write_new(path, (canonical_json(body) + "\n").encode("utf-8"))


def _write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- sign


def sign_case(case: Case, key_path: Path, algorithm: str | None = None) -> dict[str, Any]:
    """Sign the current seal of the case; store the signature in CASE/witnesses and record it in custody."""
    actual = private_key_algorithm(key_path)
    if algorithm is not None and algorithm != actual:
        raise UsageError(f"{key_path}: is an {actual} key, not {algorithm}")
    statement = _verified_statement(case)
    message = statement_bytes(statement)
    public = PublicKey(actual, public_der_of_private(key_path, actual))
    signature = sign_bytes(key_path, actual, message)
    if not verify_signature(public, message, signature):  # never store a signature that does not check
        raise ForensicsError(f"{key_path}: the signature just made does not verify (bug or broken key)")
    digest = statement_digest(statement)
    seq = statement["custody_head"]["seq"]
    name = f"signature-{seq:06d}-{public.fingerprint[7:19]}-{digest[:12]}.json"
    record = {
        "kind": "signature",
        "algorithm": "ed25519" if actual == "ed25519" else "sm2-sm3",
        "statement": statement,
        "statement_sha256": digest,
        "public_key_pem": public.pem,
        "key_fingerprint": public.fingerprint,
        "signature_base64": base64.b64encode(signature).decode("ascii"),
        "signed_at": now_iso(),
    }
    if actual == "sm2":
        record["sm2_id"] = SM2_ID
    path = witnesses_dir(case) / name
    _write_new(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    details = {
        "statement_sha256": digest,
        "key_fingerprint": public.fingerprint,
        "algorithm": record["algorithm"],
        "signed_head_seq": seq,
        "witness": f"witnesses/{name}",
    }
    append_custody(case, "sign", details)
    return {**details, "witness": str(path)}


# ---------------------------------------------------------------- RFC 3161


def timestamp_request(case: Case, out: Path) -> dict[str, Any]:
    """Write a TimeStampReq over the statement digest to OUT and keep the pending request in the case."""
    from asn1crypto import tsp

    if out.exists():
        raise UsageError(f"{out}: exists; choose a new file for the request")
    statement = _verified_statement(case)
    digest = statement_digest(statement)
    nonce = secrets.randbits(63) | (1 << 62)  # positive, 63 bits: fits every TSA's INTEGER handling
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": bytes.fromhex(digest)},
            "nonce": nonce,
            "cert_req": True,
        }
    ).dump()
    pending = witnesses_dir(case) / "pending"
    _write_new(pending / f"{nonce:016x}.tsq", request)
    record = {"statement": statement, "statement_sha256": digest, "nonce": nonce, "requested_at": now_iso()}
    _write_new(pending / f"{nonce:016x}.json", (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    out.write_bytes(request)
    return {
        "request": str(out),
        "statement_sha256": digest,
        "nonce": f"{nonce:016x}",
        "custody_head_seq": statement["custody_head"]["seq"],
    }


def timestamp_attach(case: Case, reply: Path, tsa_certs: list[Path]) -> dict[str, Any]:
    """Check a TSA reply against its pending request and the TSA certificates; store it in the case."""
    data = read_reply(reply)
    info = parse_reply(data, str(reply))
    pending = witnesses_dir(case) / "pending"
    if info.nonce is None:
        raise ForensicsError(f"{reply}: the reply carries no nonce, so it cannot be matched to a request")
    base = pending / f"{info.nonce:016x}"
    if not base.with_suffix(".json").exists():
        raise ForensicsError(f"{reply}: no pending request of this case has nonce {info.nonce:016x}")
    try:
        record = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
        digest = str(record["statement_sha256"])
        intact = _statement_shape_error(record["statement"]) is None and statement_digest(record["statement"]) == digest
    except (OSError, ValueError, KeyError, TypeError):
        intact = False
    if not intact:
        raise ForensicsError(f"{base.with_suffix('.json')}: the pending request is damaged or was altered")
    if info.hash_algorithm != "sha256" or info.imprint != digest:
        raise ForensicsError(f"{reply}: the reply timestamps {info.imprint[:16]}…, not the requested {digest[:16]}…")
    reason = openssl_ts_verify(reply, ["-queryfile", str(base.with_suffix(".tsq"))], tsa_certs, "checking the reply")
    if reason is not None:
        raise ForensicsError(f"{reply}: the time-stamp reply does not verify ({reason})")
    seq = record["statement"]["custody_head"]["seq"]
    stem = f"timestamp-{seq:06d}-{info.serial:x}-{digest[:12]}"
    out = witnesses_dir(case)
    _write_new(out / f"{stem}.tsr", data)
    _write_new(out / f"{stem}.tsq", base.with_suffix(".tsq").read_bytes())
    stored = {
        "kind": "timestamp",
        "statement": record["statement"],
        "statement_sha256": digest,
        "gen_time": info.gen_time,
        "tsa": info.tsa,
        "serial": info.serial,
        "policy": info.policy,
        "nonce": f"{info.nonce:016x}",
        "reply": f"{stem}.tsr",
        "request": f"{stem}.tsq",
        "tsa_certificates_pem": b"".join(read_cert(p) for p in tsa_certs).decode("ascii", "replace"),
    }
    _write_new(out / f"{stem}.json", (json.dumps(stored, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    base.with_suffix(".json").unlink()  # ours, copied above: the request is no longer pending
    base.with_suffix(".tsq").unlink()
    details = {
        "statement_sha256": digest,
        "gen_time": info.gen_time,
        "tsa": info.tsa,
        "signed_head_seq": seq,
        "witness": f"witnesses/{stem}.json",
    }
    append_custody(case, "timestamp", details)
    return {**details, "witness": str(out / f"{stem}.json")}


# ---------------------------------------------------------------- verify


def verify_witnesses(case: Case, trust: Iterable[Path] = (), tsa_certs: Iterable[Path] = ()) -> WitnessReport:
    """Check every witness in CASE/witnesses against the case; named problems and info notes."""
    report = WitnessReport()
    trusted = {k.fingerprint: k for k in (load_public_key(p) for p in trust)}
    tsa_list = list(tsa_certs)
    entries = _tolerant_custody(case)
    state = _CaseState.read(case)
    valid_by: set[str] = set()
    folder = witnesses_dir(case)
    files = sorted(folder.glob("signature-*.json")) + sorted(folder.glob("timestamp-*.json"))
    for path in files:
        rel = str(path.relative_to(case.root))
        record = _load_witness(path, report)
        if record is None:
            continue
        head_ok = _check_head(record, entries, rel, report)
        seq = int(record["statement"]["custody_head"]["seq"])
        _check_state(case, record, entries[seq:] if head_ok else [], state, rel, report)
        _check_recorded(record, entries, rel, report)
        if record.get("kind") == "signature":
            fp = _check_signature(record, trusted, rel, report, head_ok)
            if fp:
                valid_by.add(fp)
        else:
            _check_timestamp(record, folder, tsa_list, rel, report, head_ok)
        if head_ok:
            _note_uncovered(record, entries, rel, report)
    _missing_witnesses(case, entries, report)
    for fp in sorted(set(trusted) - valid_by):
        report.problems.append(Problem("unsigned", str(folder), f"no valid signature by trusted key {fp}"))
    return report


@dataclass
class _CaseState:
    manifest_seal: str | None
    manifest_body: dict[str, Any] | None
    case_toml_sha256: str | None

    @classmethod
    def read(cls, case: Case) -> _CaseState:
        try:
            manifest = json.loads(case.manifest_path.read_text(encoding="utf-8"))
            seal = manifest_seal(manifest) if isinstance(manifest, dict) else None
            body = manifest if isinstance(manifest, dict) else None
        except (OSError, ValueError):
            seal, body = None, None
        toml = sha256_file(case.toml_path) if case.toml_path.exists() else None
        return cls(seal, body, toml)


def _load_witness(path: Path, report: WitnessReport) -> dict[str, Any] | None:
    """The witness record, or None after naming why it cannot be used (a forged file must not crash verify)."""
    rel = f"witnesses/{path.name}"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        report.problems.append(Problem("witness", rel, f"unreadable witness ({type(exc).__name__}: {exc})"))
        return None
    why = _statement_shape_error(record.get("statement") if isinstance(record, dict) else None)
    if why is None and record.get("kind") not in ("signature", "timestamp"):
        why = "kind is neither signature nor timestamp"
    if why is not None:
        report.problems.append(Problem("witness", rel, f"not a witness this tool can check: {why}"))
        return None
    if record.get("statement_sha256") != statement_digest(record["statement"]):
        report.problems.append(Problem("witness", rel, "statement_sha256 is not the digest of its statement"))
        return None
    result: dict[str, Any] = record
    return result


def _statement_shape_error(statement: Any) -> str | None:
    if not isinstance(statement, dict) or set(statement) != {
        "format",
        "custody_head",
        "manifest_seal",
        "case_toml_sha256",
    }:
        return "the statement does not have the documented fields"
    if statement["format"] != FORMAT:
        return f"statement format {str(statement['format'])[:40]!r} is not {FORMAT}"
    head = statement["custody_head"]
    if not isinstance(head, dict) or set(head) != {"seq", "hash"}:
        return "custody_head is not {seq, hash}"
    if not isinstance(head["seq"], int) or isinstance(head["seq"], bool) or head["seq"] < 1:
        return "custody_head.seq is not a positive integer"
    for value in (head["hash"], statement["manifest_seal"], statement["case_toml_sha256"]):
        if not (isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)):
            return "a hash in the statement is not 64 lowercase hex digits"
    return None


def _check_head(record: dict[str, Any], entries: list[dict[str, Any]], rel: str, report: WitnessReport) -> bool:
    """Does the log still reach the witnessed head with the same hash, through an intact chain?"""
    statement = record["statement"]
    seq, want = int(statement["custody_head"]["seq"]), str(statement["custody_head"]["hash"])
    what = "signature" if record.get("kind") == "signature" else "timestamp"
    before = len(report.problems)
    if seq < 1 or len(entries) < seq:
        report.problems.append(
            Problem("witness-truncated", rel, f"the {what} covers custody entry {seq}, the log ends at {len(entries)}")
        )
        return False
    if not _chain_reaches(entries[:seq], want):
        report.problems.append(
            Problem(
                "witness-forked",
                rel,
                f"custody entries up to {seq} no longer hash to the {what}ed head "
                f"{want[:16]}… (the log was rewritten or re-sealed)",
            )
        )
        return False
    sealed = [e["details"]["manifest_sha256"] for e in entries[:seq] if _manifest_sealed(e)]
    if sealed and sealed[-1] != statement["manifest_seal"]:
        report.problems.append(
            Problem("witness-manifest", rel, f"the manifest seal recorded at entry {seq} differs from the {what}ed one")
        )
    return len(report.problems) == before


def _check_state(
    case: Case,
    record: dict[str, Any],
    later_entries: list[dict[str, Any]],
    state: _CaseState,
    rel: str,
    report: WitnessReport,
) -> None:
    """Does the case still hold what was witnessed? Changes are accepted only where a custody entry after
    the (still reachable) head seals them; LATER_ENTRIES is empty when the head is not reachable."""
    statement = record["statement"]
    what = "signature" if record.get("kind") == "signature" else "timestamp"
    later = [e for e in later_entries if _manifest_sealed(e)]
    if state.manifest_seal != statement["manifest_seal"] and not later:
        report.problems.append(
            Problem(
                "witness-manifest",
                rel,
                f"manifest.json changed since the {what} and no later custody entry seals the change",
            )
        )
    _check_signed_evidence(case, statement, state, rel, what, report)
    if state.case_toml_sha256 != statement["case_toml_sha256"] and not _recorded_later(
        later_entries, state.case_toml_sha256
    ):
        report.problems.append(Problem("witness-case-toml", rel, f"case.toml changed since the {what}"))


def _check_recorded(record: dict[str, Any], entries: list[dict[str, Any]], rel: str, report: WitnessReport) -> None:
    """Each witness was recorded in custody when made: a witness without its entry means a cut log."""
    for entry in entries:
        details = entry.get("details")
        if isinstance(details, dict) and details.get("witness") == rel:
            if details.get("statement_sha256") != record["statement_sha256"]:
                report.problems.append(
                    Problem(
                        "witness", rel, f"custody entry {entry.get('seq')} records another statement for this witness"
                    )
                )
            return
    report.problems.append(
        Problem("witness-unrecorded", rel, "no custody entry records this witness (the log was cut after it?)")
    )


def _note_uncovered(record: dict[str, Any], entries: list[dict[str, Any]], rel: str, report: WitnessReport) -> None:
    seq = int(record["statement"]["custody_head"]["seq"])
    if len(entries) <= seq:
        return
    what = "signature" if record.get("kind") == "signature" else "timestamp"
    span = f"entry {seq + 1}" if len(entries) == seq + 1 else f"entries {seq + 1}..{len(entries)}"
    actions = ", ".join(sorted({str(e.get("action")) for e in entries[seq:]}))
    report.notes.append(f"{rel}: custody {span} ({actions}) not covered by the {what}")


def _chain_reaches(entries: list[dict[str, Any]], head_hash: str) -> bool:
    """Is the chain up to the head intact, and does it end at the witnessed hash?"""
    prev = GENESIS
    for entry in entries:
        if entry.get("prev_hash") != prev or entry.get("hash") != _entry_hash(entry):
            return False
        prev = str(entry.get("hash"))
    return prev == head_hash


def _manifest_sealed(entry: dict[str, Any]) -> bool:
    return isinstance(entry.get("details"), dict) and "manifest_sha256" in entry["details"]


def _recorded_later(entries: list[dict[str, Any]], value: str | None) -> bool:
    """Is VALUE (a case.toml hash) recorded in any later custody entry, whatever the field is called?"""
    if value is None:
        return False
    return any(value in json.dumps(e.get("details", {})) for e in entries)


def _check_signed_evidence(
    case: Case, statement: dict[str, Any], state: _CaseState, rel: str, what: str, report: WitnessReport
) -> None:
    """Inputs and Parquet files that were witnessed must still be in the manifest unchanged (or retracted)."""
    snapshot = witnesses_dir(case) / f"manifest-{statement['manifest_seal']}.json"
    if not snapshot.exists() or state.manifest_body is None:
        return
    try:
        body = json.loads(snapshot.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        body = None
    if not isinstance(body, dict) or manifest_seal(body) != statement["manifest_seal"]:
        report.problems.append(
            Problem(
                "witness",
                str(snapshot.relative_to(case.root)),
                "the witnessed manifest copy does not match the witnessed seal",
            )
        )
        return
    now_out = {str(o.get("path")): o for o in state.manifest_body.get("outputs", []) if isinstance(o, dict)}
    for out in body.get("outputs", []):
        cur = now_out.get(str(out.get("path")))
        if cur is None or cur.get("sha256") != out.get("sha256"):
            report.problems.append(
                Problem(
                    "witness-evidence",
                    str(out.get("path")),
                    f"this Parquet file was {what}ed and has since changed or gone",
                )
            )
    now_in = {
        (str(i.get("path")), str(i.get("sha256"))): i
        for i in state.manifest_body.get("inputs", [])
        if isinstance(i, dict)
    }
    for item in body.get("inputs", []):
        cur = now_in.get((str(item.get("path")), str(item.get("sha256"))))
        same = cur is not None and all(cur.get(k) == item.get(k) for k in ("merkle_root", "events"))
        if not same and not (cur or {}).get("retracted"):
            report.problems.append(
                Problem(
                    "witness-evidence",
                    str(item.get("path")),
                    f"this input was {what}ed and its rows have since changed or gone",
                )
            )


def _describe(statement: dict[str, Any]) -> str:
    head = statement["custody_head"]
    return f"custody head seq {head['seq']} ({str(head['hash'])[:16]}…), manifest {statement['manifest_seal'][:16]}…"


def _check_signature(
    record: dict[str, Any], trusted: dict[str, PublicKey], rel: str, report: WitnessReport, head_ok: bool
) -> str | None:
    """The fingerprint of a trusted key whose valid signature this is, else None."""
    fp = str(record.get("key_fingerprint"))
    key = trusted.get(fp)
    if key is None:
        state = "not checked against a trusted key (give --trust PUBKEY)" if not trusted else "key not trusted"
        report.notes.append(f"{rel}: signature by {fp} present, {state}")
        return None
    try:
        signature = base64.b64decode(str(record.get("signature_base64")), validate=True)
    except binascii.Error:
        signature = b""
    if not verify_signature(key, statement_bytes(record["statement"]), signature):
        report.problems.append(Problem("signature", rel, f"the signature does not verify with trusted key {fp}"))
        return None
    if head_ok:
        report.notes.append(f"signed by {fp} ({key.algorithm}): {_describe(record['statement'])}")
    return fp


def _check_timestamp(
    record: dict[str, Any], folder: Path, tsa_certs: list[Path], rel: str, report: WitnessReport, head_ok: bool
) -> None:
    reply = folder / Path(str(record.get("reply", ""))).name
    if not reply.is_file():
        report.problems.append(Problem("timestamp", rel, f"the reply {reply.name} is missing"))
        return
    try:
        info = parse_reply(reply.read_bytes(), str(reply))
    except ForensicsError as exc:
        report.problems.append(Problem("timestamp", rel, str(exc)))
        return
    if info.hash_algorithm != "sha256" or info.imprint != record["statement_sha256"]:
        report.problems.append(Problem("timestamp", rel, "the token timestamps another statement than this one"))
        return
    stored = None if tsa_certs else _stored_certs(record)
    anchors = tsa_certs or ([stored] if stored else [])  # none: the system's certificate store
    try:
        reason = openssl_ts_verify(reply, ["-digest", info.imprint], anchors, "checking a timestamp")
    finally:
        if stored is not None:
            stored.unlink(missing_ok=True)
    if reason is not None:
        report.problems.append(Problem("timestamp", rel, f"the token does not verify ({reason})"))
        return
    source = "" if tsa_certs else " (checked against the TSA certificate stored in the case; give --tsa-cert)"
    if head_ok:
        report.notes.append(
            f"sealed no later than {info.gen_time} by TSA {info.tsa}: {_describe(record['statement'])}{source}"
        )


def _stored_certs(record: dict[str, Any]) -> Path | None:
    pem = str(record.get("tsa_certificates_pem") or "")
    if "-----BEGIN CERTIFICATE-----" not in pem:
        return None
    fd, name = tempfile.mkstemp(prefix="forensics-tsa-", suffix=".pem")
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(pem)
    return Path(name)


def _missing_witnesses(case: Case, entries: list[dict[str, Any]], report: WitnessReport) -> None:
    for entry in entries:
        details = entry.get("details")
        if entry.get("action") in ("sign", "timestamp") and isinstance(details, dict):
            target = case.root / str(details.get("witness", ""))
            if not target.is_file():
                report.problems.append(
                    Problem(
                        "witness-missing",
                        str(details.get("witness")),
                        f"custody entry {entry.get('seq')} records this witness; it is gone",
                    )
                )
