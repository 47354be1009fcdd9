"""Signing keys, signatures and RFC 3161 tokens: the cryptographic primitives behind forensics.witness.

No knowledge of cases here. Ed25519 through ``cryptography``; SM2 (with SM3, signer ID 1234567812345678)
and the check of time-stamp tokens through the ``openssl`` command line (OpenSSL >= 3.0); DER parsing of
keys, requests and replies through ``asn1crypto``. Why these: see forensics/witness.py.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from forensics.errors import ForensicsError, UsageError

ALGORITHMS = ("ed25519", "sm2")
# The passphrase of an encrypted key comes from this variable, never from an argument: custody.log records
# the command line of every step.
PASSPHRASE_ENV = "FORENSICS_KEY_PASSPHRASE"
SM2_ID = "1234567812345678"  # GM/T 0009 default signer ID; what Chinese CAs and OpenSSL 3 use
_ED25519_OID = "1.3.101.112"
_EC_OID = "1.2.840.10045.2.1"
_SM2_OID = "1.2.156.10197.1.301"


# ---------------------------------------------------------------- keys


@dataclass(frozen=True)
class PublicKey:
    algorithm: str  # ed25519 | sm2
    der: bytes  # SubjectPublicKeyInfo

    @property
    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self.der).hexdigest()

    @property
    def pem(self) -> str:
        body = base64.encodebytes(self.der).decode("ascii").replace("\n", "")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


def _pem_blocks(text: str, where: str) -> list[tuple[str, bytes]]:
    blocks: list[tuple[str, bytes]] = []
    label: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            label, body = line[11:-5], []
        elif line.startswith("-----END ") and label is not None:
            try:
                blocks.append((label, base64.b64decode("".join(body), validate=True)))
            except ValueError as exc:  # binascii.Error, or non-ASCII text in the block
                raise ForensicsError(f"{where}: damaged PEM block {label} ({exc})") from exc
            label = None
        elif label is not None:
            body.append(line)
    return blocks


def _algorithm_of(algorithm_identifier: Any, where: str) -> str:
    oid = algorithm_identifier["algorithm"].dotted
    if oid == _ED25519_OID:
        return "ed25519"
    if oid == _SM2_OID:
        return "sm2"
    if oid == _EC_OID:
        params = algorithm_identifier["parameters"]
        if params.name == "named" and params.chosen.dotted == _SM2_OID:
            return "sm2"
    raise UsageError(f"{where}: key algorithm {oid} is not supported (use an Ed25519 or SM2 key)")


def load_public_key(path: Path) -> PublicKey:
    """A public key PEM (SubjectPublicKeyInfo), Ed25519 or SM2."""
    from asn1crypto import keys

    where = str(path)
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise UsageError(f"{where}: cannot read the key ({exc.strerror})") from exc
    ders = [der for label, der in _pem_blocks(text, where) if label == "PUBLIC KEY"]
    if not ders:
        raise UsageError(f"{where}: no '-----BEGIN PUBLIC KEY-----' block (give the public key, not the private)")
    try:
        info = keys.PublicKeyInfo.load(ders[0], strict=True)
        algorithm = _algorithm_of(info["algorithm"], where)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{where}: not a valid public key ({exc})") from exc
    return PublicKey(algorithm, ders[0])


def private_key_algorithm(path: Path) -> str:
    from asn1crypto import keys

    where = str(path)
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise UsageError(f"{where}: cannot read the key ({exc.strerror})") from exc
    blocks = _pem_blocks(text, where)
    if any(label == "ENCRYPTED PRIVATE KEY" for label, _ in blocks):
        return _encrypted_key_algorithm(path)
    ders = [der for label, der in blocks if label == "PRIVATE KEY"]
    if not ders:
        raise UsageError(f"{where}: no '-----BEGIN PRIVATE KEY-----' (PKCS#8) block")
    try:
        info = keys.PrivateKeyInfo.load(ders[0], strict=True)
        return _algorithm_of(info["private_key_algorithm"], where)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{where}: not a valid PKCS#8 private key ({exc})") from exc


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def _password_for(key_path: Path) -> bytes | None:
    """The passphrase only for an encrypted key (cryptography refuses a password for a plain one)."""
    return _passphrase() if b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes() else None


def _passin() -> list[str]:
    return ["-passin", f"env:{PASSPHRASE_ENV}"] if _passphrase() else []


def _encrypted_key_algorithm(path: Path) -> str:
    """Ed25519 is decrypted by cryptography; anything it cannot load (SM2) is read by openssl."""
    from asn1crypto import keys
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    password = _passphrase()
    if password is None:
        raise UsageError(f"{path}: the key is encrypted; put its passphrase in the {PASSPHRASE_ENV} variable")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=password)
    except UnsupportedAlgorithm:
        der = _openssl_ok(["pkey", "-in", str(path), *_passin(), "-pubout", "-outform", "DER"], f"reading {path}")
        return _algorithm_of(keys.PublicKeyInfo.load(der)["algorithm"], str(path))
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path}: cannot decrypt the key (wrong passphrase in {PASSPHRASE_ENV}?)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an Ed25519 or SM2 key")
    return "ed25519"


def _openssl(args: list[str], what: str, data_in: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("openssl")
    if exe is None:
        raise ForensicsError(f"{what} needs the openssl command line (OpenSSL >= 3.0); install it (apt: openssl)")
    return subprocess.run([exe, *args], input=data_in, capture_output=True, check=False, timeout=120)


def _openssl_ok(args: list[str], what: str) -> bytes:
    done = _openssl(args, what)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ForensicsError(f"{what} failed: {message[-1] if message else 'openssl exit ' + str(done.returncode)}")
    return done.stdout


def keygen(out: Path, algorithm: str = "ed25519") -> PublicKey:
    """Write a new private key to OUT (PKCS#8 PEM, mode 0600) and its public key to OUT.pub.

    The private key is encrypted (AES-256) with the passphrase in FORENSICS_KEY_PASSPHRASE when it is set."""
    if algorithm not in ALGORITHMS:
        raise UsageError(f"--algorithm must be one of {', '.join(ALGORITHMS)}")
    pub = out.with_name(out.name + ".pub")
    for path in (out, pub):
        if path.exists():
            raise UsageError(f"{path}: exists; keygen never overwrites a key")
    if algorithm == "ed25519":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        password = _passphrase()
        protect = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protect)
    else:
        cipher = ["-aes-256-cbc", "-pass", f"env:{PASSPHRASE_ENV}"] if _passphrase() else []
        private_pem = _openssl_ok(["genpkey", "-algorithm", "SM2", *cipher], "SM2 key generation")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    der = public_der_of_private(out, algorithm)
    public = PublicKey(algorithm, der)
    pub.write_text(public.pem, encoding="ascii")
    return public


def public_der_of_private(key_path: Path, algorithm: str) -> bytes:
    if algorithm == "ed25519":
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(key_path.read_bytes(), password=_password_for(key_path))
        return key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return _openssl_ok(["pkey", "-in", str(key_path), *_passin(), "-pubout", "-outform", "DER"], "reading the SM2 key")


def sign_bytes(key_path: Path, algorithm: str, message: bytes) -> bytes:
    if algorithm == "ed25519":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = serialization.load_pem_private_key(key_path.read_bytes(), password=_password_for(key_path))
        if not isinstance(key, Ed25519PrivateKey):
            raise UsageError(f"{key_path}: not an Ed25519 key")
        return key.sign(message)
    with tempfile.TemporaryDirectory(prefix="forensics-sign-") as tmp:
        msg, sig = Path(tmp) / "statement.bin", Path(tmp) / "sig.bin"
        msg.write_bytes(message)
        _openssl_ok(
            [
                "pkeyutl",
                "-sign",
                "-inkey",
                str(key_path),
                *_passin(),
                "-rawin",
                "-in",
                str(msg),
                "-digest",
                "sm3",
                "-pkeyopt",
                f"distid:{SM2_ID}",
                "-out",
                str(sig),
            ],
            "SM2 signing",
        )
        return sig.read_bytes()


def verify_signature(public: PublicKey, message: bytes, signature: bytes) -> bool:
    if public.algorithm == "ed25519":
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        key = load_der_public_key(public.der)
        if not isinstance(key, Ed25519PublicKey):
            return False
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True
    with tempfile.TemporaryDirectory(prefix="forensics-verify-") as tmp:
        pem, msg, sig = Path(tmp) / "pub.pem", Path(tmp) / "statement.bin", Path(tmp) / "sig.bin"
        pem.write_text(public.pem, encoding="ascii")
        msg.write_bytes(message)
        sig.write_bytes(signature)
        done = _openssl(
            [
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                str(pem),
                "-rawin",
                "-in",
                str(msg),
                "-digest",
                "sm3",
                "-pkeyopt",
                f"distid:{SM2_ID}",
                "-sigfile",
                str(sig),
            ],
            "SM2 verification",
        )
        return done.returncode == 0


# ---------------------------------------------------------------- RFC 3161 tokens


@dataclass
class TokenInfo:
    gen_time: str
    tsa: str
    serial: int
    nonce: int | None
    hash_algorithm: str
    imprint: str
    policy: str


def parse_reply(data: bytes, where: str) -> TokenInfo:
    """The fields of a granted TimeStampResp (or a bare TimeStampToken); one-line error otherwise."""
    from asn1crypto import tsp

    try:
        resp = tsp.TimeStampResp.load(data, strict=True)
        status = resp["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            text = resp["status"]["status_string"].native
            raise ForensicsError(f"{where}: the TSA did not grant the timestamp ({status}: {text})")
        token = resp["time_stamp_token"]
        signed = token["content"]
        info = signed["encap_content_info"]["content"].parsed
        tsa_name = _tsa_name(info, signed)
        gen = info["gen_time"].native
        return TokenInfo(
            gen_time=gen.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            tsa=tsa_name,
            serial=int(info["serial_number"].native),
            nonce=info["nonce"].native,
            hash_algorithm=info["message_imprint"]["hash_algorithm"]["algorithm"].native,
            imprint=info["message_imprint"]["hashed_message"].native.hex(),
            policy=info["policy"].dotted,
        )
    except ForensicsError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ForensicsError(f"{where}: not a valid RFC 3161 time-stamp reply ({exc})") from exc


def _tsa_name(info: Any, signed: Any) -> str:
    tsa = info["tsa"]
    if tsa.native is not None:
        return str(tsa.chosen.human_friendly)
    certs = signed["certificates"]
    if certs.native:
        return str(certs[0].chosen.subject.human_friendly)
    return "unnamed TSA"


def _ca_args(tsa_certs: Iterable[Path], tmp: Path) -> list[str]:
    certs = list(tsa_certs)
    if certs:
        bundle = tmp / "trust.pem"
        bundle.write_bytes(b"".join(read_cert(p) for p in certs))
        return ["-CAfile", str(bundle), "-partial_chain"]  # the TSA's own certificate may be the anchor
    paths = ssl.get_default_verify_paths()
    if paths.cafile:
        return ["-CAfile", paths.cafile]
    if paths.capath:
        return ["-CApath", paths.capath]
    raise UsageError("no system certificate store: give the TSA's certificate with --tsa-cert")


def read_cert(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the certificate ({exc.strerror})") from exc
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UsageError(f"{path}: no '-----BEGIN CERTIFICATE-----' block (give PEM certificates)")
    return data if data.endswith(b"\n") else data + b"\n"


def openssl_ts_verify(tsr: Path, check: list[str], tsa_certs: Iterable[Path], what: str) -> str | None:
    """None if `openssl ts -verify` accepts the reply, else its reason."""
    with tempfile.TemporaryDirectory(prefix="forensics-ts-") as tmp:
        args = ["ts", "-verify", "-in", str(tsr), *check, *_ca_args(tsa_certs, Path(tmp))]
        done = _openssl(args, what)
    if done.returncode == 0:
        return None
    lines = [ln for ln in done.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    reasons = [ln for ln in lines if "error" in ln.lower() or "failure" in ln.lower()]
    return (reasons or lines or [f"openssl exit {done.returncode}"])[-1].strip()


def read_reply(reply: Path) -> bytes:
    try:
        data = reply.read_bytes()
    except OSError as exc:
        raise UsageError(f"{reply}: cannot read the reply ({exc.strerror})") from exc
    if len(data) > 1 << 20:
        raise ForensicsError(f"{reply}: {len(data)} bytes is too large for a time-stamp reply")
    return data
