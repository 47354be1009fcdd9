"""Read one input: detect compression, hash every byte, split lines, decode text.

Nothing here interprets a record. The reader hands ingest batches of lines with their exact
bytes, line number and byte offset (in the decompressed stream), and the hashes of both the
bytes as given and the decompressed stream. Splitting and decoding are vectorized over blocks
(numpy + Arrow buffers); Python touches single lines only in a block holding invalid bytes.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import hashlib
import io
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa

from forensics.errors import ForensicsError, UsageError
from forensics.seal import BackgroundHasher, DualHasher

# Bytes of decompressed text per batch: bounds memory whatever the input size. Measured on 1 M nginx
# lines (bench/RESULTS.md): 8/16/32 MB blocks ingest at the same speed, peak RSS 0.6/0.9/1.3 GB.
BLOCK_SIZE = 16 << 20
MAX_LINE_BYTES = 1 << 20  # default --max-line-bytes: a longer line is quarantined, never held whole
MAX_DOCUMENT_BYTES = 2 << 30  # a JSON document is parsed whole; refuse anything larger
ENCODINGS = ("auto", "utf-8", "gb18030", "big5", "shift_jis", "euc-kr")  # examples: any codec name Python knows works
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass
class ReadStats:
    """Filled while the input is read; complete once the batches are exhausted."""

    compression: str = "none"
    encoding: str = "utf-8"
    bytes_read: int = 0  # raw bytes consumed so far, for progress
    lines: int = 0
    bom: bool = False
    crlf_lines: int = 0
    _raw_bg: BackgroundHasher | None = None
    _dec_bg: BackgroundHasher | None = None

    def raw_update(self, data: bytes) -> None:
        if self._raw_bg is None:
            self._raw_bg = BackgroundHasher()
        self._raw_bg.update(data)
        self.bytes_read += len(data)

    def decompressed_update(self, data: bytes) -> None:
        if self.compression == "none":
            return  # the same bytes as the raw stream: hashed once
        if self._dec_bg is None:
            self._dec_bg = BackgroundHasher()
        self._dec_bg.update(data)

    @property
    def raw(self) -> DualHasher:
        return self._raw_bg.result() if self._raw_bg else DualHasher()

    @property
    def decompressed(self) -> DualHasher:
        if self.compression == "none":
            return self.raw
        return self._dec_bg.result() if self._dec_bg else DualHasher()


@dataclass
class LineBlock:
    """One block of lines. ``good`` goes to the parser; the rest is already accounted."""

    good: pl.DataFrame  # line_no, byte_offset, raw, text
    blank: int
    undecodable: pl.DataFrame  # line_no, byte_offset, raw, reason


@dataclass(frozen=True)
class Overlong:
    """A line longer than the maximum: its first bytes, its full length and SHA-256 (read in bounded blocks)."""

    head: bytes
    length: int
    sha256: str
    terminated: bool  # ended by a newline (else by the end of the input)


class _HashingFile(io.RawIOBase):
    """A file whose bytes are hashed as they pass. A plain file is read through read() in large
    pieces (no intermediate copy); a decompressor reads through readinto()."""

    def __init__(self, fh: BinaryIO, stats: ReadStats) -> None:
        self._fh = fh
        self._stats = stats

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        if data:
            self._stats.raw_update(data)
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def require_regular_file(path: Path) -> None:
    """Refuse devices, FIFOs and sockets at once: /dev/zero never ends and a FIFO blocks until someone writes."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ForensicsError(f"{path}: cannot read ({exc.strerror})") from exc
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a character device"
            if stat.S_ISCHR(mode)
            else "a block device"
            if stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a folder"
            if stat.S_ISDIR(mode)
            else "not a regular file"
        )
        raise ForensicsError(f"{path}: is {kind}; only regular files are read as logs")


def detect_compression(path: Path) -> str:
    require_regular_file(path)
    with path.open("rb") as fh:
        magic = fh.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return "gzip"
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if magic.startswith(b"BZh"):
        return "bz2"
    if magic.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if magic.startswith(b"PK\x03\x04"):
        return "zip"
    return "none"


def _open_stream(path: Path, stats: ReadStats) -> IO[bytes]:
    compression = detect_compression(path)
    stats.compression = compression
    if compression == "zip":
        return _open_zip(path, stats)
    fh = path.open("rb")
    if compression == "none":
        return _HashingFile(fh, stats)  # type: ignore[return-value]
    hashing = io.BufferedReader(_HashingFile(fh, stats), buffer_size=1 << 20)
    if compression == "gzip":
        return gzip.GzipFile(fileobj=hashing)  # type: ignore[return-value]  # reads concatenated members too
    if compression == "bz2":
        return _StrictStreams(hashing, bz2.BZ2Decompressor)  # type: ignore[return-value]
    if compression == "xz":
        return _StrictStreams(hashing, lzma.LZMADecompressor)  # type: ignore[return-value]
    import zstandard

    return _StrictStreams(hashing, lambda: zstandard.ZstdDecompressor().decompressobj())  # type: ignore[return-value]


class _StrictStreams(io.RawIOBase):
    """Concatenated bz2 / xz / zstd streams that fail loudly on anything else.

    Python's BZ2File and LZMAFile silently ignore bytes after the last stream, and zstandard's
    stream_reader returns a short stream for a truncated frame: both would drop the tail of a log
    without a trace. Here trailing bytes must be another stream, and the last one must be complete.
    """

    def __init__(self, source: IO[bytes], new_decompressor: Any) -> None:
        self._source = source
        self._new = new_decompressor
        self._dobj = new_decompressor()
        self._pending = b""
        self._in_stream = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._source.read(1 << 20)
            if not chunk:
                if self._in_stream:
                    raise EOFError("compressed stream ends in the middle (truncated file)")
                return 0
            self._feed(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _feed(self, chunk: bytes) -> None:
        while chunk:
            self._in_stream = True
            self._pending += self._dobj.decompress(chunk)
            if not self._dobj.eof:
                return
            self._in_stream = False
            chunk = self._dobj.unused_data
            self._dobj = self._new()


def _open_zip(path: Path, stats: ReadStats) -> IO[bytes]:
    """A zip holding exactly one file is read like any compressed stream; anything else is refused."""
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            stats.raw_update(block)
    archive = zipfile.ZipFile(path)
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) != 1:
        raise UsageError(
            f"{path}: zip archive holds {len(members)} files; extract it and ingest the files "
            "(the archive's own hash is not a hash of any one log)"
        )
    return archive.open(members[0])


def _read_full(stream: IO[bytes], size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining > 0:
        data = stream.read(remaining)
        if not data:
            break
        chunks.append(data)
        remaining -= len(data)
    return b"".join(chunks)


def iter_blocks(path: Path, stats: ReadStats) -> Iterator[bytes]:
    """Decompressed bytes in blocks that end on a line boundary (the last may not); lines of any length."""
    for block in iter_bounded_blocks(path, stats, None):
        assert isinstance(block, bytes)  # no Overlong without max_line
        yield block


def iter_bounded_blocks(path: Path, stats: ReadStats, max_line: int | None) -> Iterator[bytes | Overlong]:
    """Decompressed bytes in blocks that end on a line boundary (the last may not).

    With max_line, a line longer than that is never held whole (a gzip of zeros without a newline would
    otherwise fill memory): it is yielded as one Overlong, in its place among the blocks.
    """
    try:
        with _open_stream(path, stats) as stream:
            carry = b""
            ready: bytes | None = None  # held back one step so an unterminated last line joins it
            long: tuple[bytes, Any, int] | None = None  # head, running SHA-256, length of an overlong line
            while True:
                data = _read_full(stream, BLOCK_SIZE)
                if not data:
                    if long is not None:
                        yield Overlong(long[0], long[2], long[1].hexdigest(), terminated=False)
                        return
                    tail = (ready or b"") + carry
                    if tail:
                        yield tail
                    return
                stats.decompressed_update(data)
                if long is not None:
                    nl = data.find(b"\n")
                    part = data if nl < 0 else data[:nl]
                    long[1].update(part)
                    long = (long[0], long[1], long[2] + len(part))
                    if nl < 0:
                        continue
                    yield Overlong(long[0], long[2], long[1].hexdigest(), terminated=True)
                    long, data = None, data[nl + 1 :]
                    if not data:
                        continue
                buf = carry + data if carry else data
                cut = buf.rfind(b"\n")
                if cut < 0:
                    if max_line is not None and len(buf) > max_line:
                        if ready is not None:
                            yield ready
                            ready = None
                        long, carry = (buf[:max_line], hashlib.sha256(buf), len(buf)), b""
                    else:
                        carry = buf
                    continue
                carry = buf[cut + 1 :]
                if ready is not None:
                    yield ready
                ready = buf[: cut + 1]
    except (
        OSError,
        EOFError,
        lzma.LZMAError,
        zipfile.BadZipFile,
        zlib.error,
        RuntimeError,
        NotImplementedError,
    ) as exc:
        raise ForensicsError(f"{path}: cannot read {stats.compression} stream: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith("zstandard"):
            raise ForensicsError(f"{path}: cannot read zstd stream: {exc}") from exc
        raise


class EncodingUnknown(UsageError):
    """--encoding auto cannot tell which legacy encoding the bytes are in (the message says what read them)."""


def check_encoding(name: str) -> str:
    """'auto', or the canonical name of a Python codec that keeps ASCII and newlines as single bytes
    (lines are split on the byte 0x0A before decoding: UTF-16/32 would be cut mid-character)."""
    if name == "auto":
        return name
    try:
        codec = codecs.lookup(name)
        ascii_safe = "a\n".encode(codec.name) == b"a\n" and codec.name not in ("utf-7", "utf_7")
    except (LookupError, UnicodeError):
        raise UsageError(
            f"unknown encoding {name!r}; use auto or a codec name Python knows (utf-8, gb18030, big5, "
            "shift_jis, euc-kr, cp1252, ...)"
        ) from None
    if not ascii_safe:
        raise UsageError(
            f"encoding {name!r} does not write ASCII and newlines as single bytes; convert the file "
            "to UTF-8 first (e.g. iconv -f UTF-16 -t UTF-8)"
        )
    return "utf-8" if codec.name == "utf-8" else codec.name


# Legacy CJK encodings that read the same bytes as different text: auto never picks one of them
# unless the detector (charset-normalizer) prefers it clearly over every other family.
_CJK_FAMILIES: dict[str, str] = {
    "gb18030": "gb", "gbk": "gb", "gb2312": "gb", "hz": "gb",
    "big5": "big5", "big5hkscs": "big5", "cp950": "big5",
    "cp932": "ja", "shift_jis": "ja", "shift_jis_2004": "ja", "shift_jisx0213": "ja", "euc_jp": "ja",
    "euc_jis_2004": "ja", "euc_jisx0213": "ja", "iso2022_jp": "ja",
    "cp949": "ko", "euc_kr": "ko", "johab": "ko", "iso2022_kr": "ko",
}  # fmt: skip
_FAMILY_CODEC = {"gb": "gb18030"}  # read a family with its superset
_CLEAR_MARGIN = 0.05  # mess ratio (charset-normalizer "chaos") by which the winner must beat other families
_DETECT_BYTES = 1 << 18


def _family(encoding: str) -> str:
    return _CJK_FAMILIES.get(
        encoding, "single-byte" if encoding.startswith(("cp", "iso8859", "latin", "mac")) else encoding
    )


def sniff_encoding(sample: bytes) -> str:
    """auto, decided on the first block:

    - valid UTF-8 throughout: UTF-8;
    - UTF-8 text with at most 1% of lines that are not UTF-8: UTF-8 (those lines are quarantined);
    - otherwise charset-normalizer reads the lines that are not UTF-8. Its choice is taken only when
      it decodes the whole sample and no encoding of another family (GB vs Big5 vs Shift_JIS vs
      EUC-KR...) reads it about as well: the same bytes are different characters in each, so a guess
      would put wrong text in the record. Otherwise EncodingUnknown: the user passes --encoding.
    - bytes that no legacy multibyte encoding reads (random bytes, a stray byte): UTF-8, the lines
      quarantined as undecodable. Single-byte code pages are never chosen by auto (they read anything).
    """
    cut = sample.rfind(b"\n")
    body = sample[: cut + 1] if cut > 0 else sample
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    lines = body.split(b"\n")
    bad = [ln for ln in lines if not _decodes(ln, "utf-8")]
    utf8_multibyte = any(not ln.isascii() and _decodes(ln, "utf-8") for ln in lines)
    if utf8_multibyte and len(bad) <= max(1, len(lines) // 100):
        return "utf-8"
    return _detect_legacy(body, bad)


def _detect_legacy(body: bytes, bad: list[bytes]) -> str:
    from charset_normalizer import from_bytes

    # Only multibyte legacy encodings are candidates: a single-byte code page reads any bytes at all, so
    # "it decodes" says nothing (pass --encoding cp1252 for such a file); stray bytes stay UTF-8 errors.
    detected = from_bytes(b"\n".join(bad)[:_DETECT_BYTES])
    matches = [m for m in detected if m.encoding in _CJK_FAMILIES and _decodes(body, m.encoding)]
    if not matches:
        return "utf-8"
    best = min(matches, key=lambda m: m.chaos)
    rivals = sorted(
        {
            m.encoding
            for m in matches
            if _family(m.encoding) != _family(best.encoding) and m.chaos <= best.chaos + _CLEAR_MARGIN
        }
    )
    if rivals:
        raise EncodingUnknown(
            f"not UTF-8, and {best.encoding} reads it no better than {', '.join(rivals[:4])} (legacy encodings "
            "that read the same bytes as different characters); pass --encoding (e.g. gb18030, big5, shift_jis, euc-kr)"
        )
    family = _family(best.encoding)
    return _FAMILY_CODEC.get(family, best.encoding)


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def split_block(block: bytes, first_line_no: int, first_offset: int, encoding: str, stats: ReadStats) -> LineBlock:
    """Split a block into lines with numbers and offsets; decode; set blank and bad lines aside.

    The common block (valid text, no CR, no blank line) costs a newline scan, one copy of the
    bytes without newlines and a UTF-8 check: no per-line work and no filtering copies.
    """
    arr = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    n = len(newlines) + (0 if block.endswith(b"\n") else 1)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines[: n - 1] + 1
    data = block.replace(b"\n", b"") if len(newlines) else block
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[:n] = starts - np.arange(n, dtype=np.int64)
    offsets[n] = len(data)
    raw = pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    text, bad_reason = _decode(raw, block, encoding)
    frame = pl.DataFrame(
        {
            "line_no": np.arange(first_line_no, first_line_no + n, dtype=np.int64),
            "byte_offset": starts + first_offset,
            "raw": pl.from_arrow(raw),
            "text": text,
        }
    )
    if first_line_no == 1:
        frame = _strip_bom(frame, stats)
    if b"\r" in block:
        frame = frame.with_columns(pl.col("text").str.strip_suffix("\r"))
        stats.crlf_lines += int(frame.select(pl.col("raw").bin.ends_with(b"\r").sum()).item())
    blank_mask = _blank_lines(frame.get_column("text"), arr, starts, np.diff(offsets))
    bad_mask = bad_reason.is_not_null()
    blank = int((blank_mask & ~bad_mask).sum())
    if blank == 0 and not bad_mask.any():
        return LineBlock(good=frame, blank=0, undecodable=_NO_LINES)
    frame = frame.with_columns(bad=bad_reason, blank=blank_mask)
    good = frame.filter(pl.col("bad").is_null() & ~pl.col("blank")).select("line_no", "byte_offset", "raw", "text")
    bad = frame.filter(pl.col("bad").is_not_null()).select(
        "line_no", "byte_offset", "raw", pl.col("bad").alias("reason")
    )
    return LineBlock(good=good, blank=blank, undecodable=bad)


_NO_LINES = pl.DataFrame(schema={"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "reason": pl.String})
_NO_GOOD = pl.DataFrame(schema={"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String})
_SPACE_BYTES = np.array([9, 11, 12, 13, 32], dtype=np.uint8)


def _blank_lines(text: pl.Series, arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> pl.Series:
    """Lines that are empty or whitespace only (Unicode White_Space, as str.strip would see it).

    Only lines that are empty or start with a space or a non-ASCII byte can be blank, so the
    regex runs on those few candidates rather than on every line."""
    first = arr[np.minimum(starts, max(len(arr) - 1, 0))] if len(arr) else np.zeros(len(starts), dtype=np.uint8)
    candidate = (lengths == 0) | np.isin(first, _SPACE_BYTES) | (first >= 0x80)
    mask = pl.Series("blank", lengths == 0)
    if candidate.any():
        idx = np.flatnonzero(candidate)
        blank_text = text.gather(idx).str.contains(r"^\s*$").fill_null(False)
        scattered = np.zeros(len(starts), dtype=bool)
        scattered[idx] = blank_text.to_numpy()
        mask = pl.Series("blank", scattered)
    return mask


def _strip_bom(frame: pl.DataFrame, stats: ReadStats) -> pl.DataFrame:
    first = frame["text"][0]
    if first is not None and first.startswith("\ufeff"):
        stats.bom = True
        return frame.with_columns(
            pl.when(pl.col("line_no") == 1)
            .then(pl.col("text").str.strip_prefix("\ufeff"))
            .otherwise(pl.col("text"))
            .alias("text")
        )
    return frame


def _decode(raw: pa.LargeBinaryArray, block: bytes, encoding: str) -> tuple[pl.Series, pl.Series]:
    """Decoded text per line plus a reason for lines that do not decode (else null)."""
    n = len(raw)
    no_reason = pl.Series("bad", [None] * n, dtype=pl.String)
    if encoding == "utf-8":
        # Arrow validates the lines' UTF-8 in place (no Python str of the block is built).
        text = raw.view(pa.large_string())
        try:
            text.validate(full=True)
        except pa.ArrowInvalid:
            return _decode_per_line(raw, "utf-8")
        return pl.Series("text", pl.from_arrow(text)), no_reason
    try:
        decoded = block.decode(encoding)
    except UnicodeDecodeError:
        return _decode_per_line(raw, encoding)
    parts = decoded.split("\n")
    if block.endswith(b"\n"):
        parts.pop()
    if len(parts) != n:  # cannot happen for GB18030 (0x0A is never a trail byte); guard anyway
        return _decode_per_line(raw, encoding)
    text = pl.Series("text", parts, dtype=pl.String)
    return text, _private_use_reasons(text, encoding)


# Private-use code points: a legacy CJK decoder maps byte pairs it has no character for there (Big5
# read as GB18030 gives U+E0CB and the like). Text logged on purpose in a legacy encoding has none.
_PRIVATE_USE = r"[\x{E000}-\x{F8FF}\x{F0000}-\x{FFFFD}\x{100000}-\x{10FFFD}]"


def _private_use_reasons(text: pl.Series, encoding: str) -> pl.Series:
    """Per line: why a line decoded with a legacy encoding is not trusted (else null)."""
    frame = pl.DataFrame({"t": text})
    found = frame.select(
        pl.col("t").str.find(_PRIVATE_USE).alias("at"), pl.col("t").str.extract(f"({_PRIVATE_USE})").alias("c")
    )
    if found.get_column("at").null_count() == len(found):
        return pl.Series("bad", [None] * len(text), dtype=pl.String)
    code = found.get_column("c").map_elements(lambda c: f"U+{ord(c):04X}", return_dtype=pl.String)
    reason = pl.select(
        pl.when(pl.lit(found.get_column("at")).is_not_null())
        .then(
            pl.format(
                f"decoded as {encoding}, the line holds private-use code point {{}} at character {{}}: the bytes "
                "are probably in another encoding; pass --encoding",
                pl.lit(code),
                pl.lit(found.get_column("at")) + 1,
            )
        )
        .alias("bad")
    )["bad"]
    return reason


def _decode_per_line(raw: pa.LargeBinaryArray, encoding: str) -> tuple[pl.Series, pl.Series]:
    texts: list[str | None] = []
    reasons: list[str | None] = []
    for value in raw.to_pylist():
        try:
            texts.append(value.decode(encoding))
            reasons.append(None if encoding == "utf-8" else _private_use_reasons(pl.Series([texts[-1]]), encoding)[0])
        except UnicodeDecodeError as exc:
            texts.append(None)
            bad = value[exc.start : exc.start + 4].hex(" ")
            reasons.append(f"invalid {encoding} bytes at column {exc.start + 1} ({bad})")
    return pl.Series("text", texts, dtype=pl.String), pl.Series("bad", reasons, dtype=pl.String)


def overlong_reason(item: Overlong, offset: int, max_line: int) -> str:
    """The line in two pieces by offset: the head kept in the quarantine row, the rest left in the input.

    The line is never held whole (it may be GBs), so the case stores its head, its length and its SHA-256; the
    offsets say where the rest is in the (decompressed) input, whose own SHA-256 is in the manifest and which
    --preserve copies into the case. Head + rest must hash to the stated digest: nothing is lost, only not copied.
    """
    kept = len(item.head)
    reason = (
        f"line of {item.length} bytes is longer than the maximum {max_line} (--max-line-bytes): "
        f"line bytes 0-{kept - 1} (stream offsets {offset}-{offset + kept - 1}) are kept here"
    )
    if item.length > kept:
        reason += (
            f"; line bytes {kept}-{item.length - 1} (stream offsets {offset + kept}-{offset + item.length - 1}) "
            "are not copied: they stay in the input file (--preserve keeps it in CASE/raw)"
        )
    return reason + f"; SHA-256 of the whole line: {item.sha256}"


def _overlong_block(item: Overlong, line_no: int, offset: int, max_line: int) -> LineBlock:
    reason = overlong_reason(item, offset, max_line)
    bad = pl.DataFrame(
        {"line_no": [line_no], "byte_offset": [offset], "raw": [item.head], "reason": [reason]},
        schema=_NO_LINES.schema,
    )
    return LineBlock(good=_NO_GOOD, blank=0, undecodable=bad)


def _cap_lines(lb: LineBlock, max_line: int) -> LineBlock:
    """Lines inside a block that exceed max_line go to quarantine like longer ones: head, length, SHA-256.
    That holds for lines that are also undecodable: their raw bytes are cut the same way."""
    size = pl.col("raw").bin.size()
    if not _longest(lb.good) > max_line and not _longest(lb.undecodable) > max_line:
        return lb
    rows = []
    for frame in (lb.good, lb.undecodable):
        for line_no, offset, raw in frame.filter(size > max_line).select("line_no", "byte_offset", "raw").iter_rows():
            item = Overlong(raw[:max_line], len(raw), hashlib.sha256(raw).hexdigest(), terminated=True)
            rows.append(_overlong_block(item, line_no, offset, max_line).undecodable)
    bad = pl.concat([lb.undecodable.filter(size <= max_line), *rows]).sort("line_no")
    return LineBlock(good=lb.good.filter(size <= max_line), blank=lb.blank, undecodable=bad)


def _longest(frame: pl.DataFrame) -> int:
    return int(frame.select(pl.col("raw").bin.size().max()).item() or 0) if frame.height else 0


def iter_line_blocks(
    path: Path, encoding: str, stats: ReadStats, max_line: int = MAX_LINE_BYTES
) -> Iterator[LineBlock]:
    encoding = check_encoding(encoding)
    line_no = 1
    offset = 0
    chosen: str | None = None if encoding == "auto" else encoding
    for block in iter_bounded_blocks(path, stats, max_line):
        if isinstance(block, Overlong):
            yield _overlong_block(block, line_no, offset, max_line)
            line_no += 1
            offset += block.length + int(block.terminated)
            stats.lines += 1
            continue
        if chosen is None:
            chosen = _sniff_for(path, block[3:] if block.startswith(UTF8_BOM) else block)
        stats.encoding = chosen
        lb = _cap_lines(split_block(block, line_no, offset, chosen, stats), max_line)
        count = lb.good.height + lb.blank + lb.undecodable.height
        line_no += count
        offset += len(block)
        stats.lines += count
        yield lb


def _sniff_for(path: Path, sample: bytes) -> str:
    try:
        return sniff_encoding(sample)
    except EncodingUnknown as exc:
        raise EncodingUnknown(f"{path}: cannot tell the encoding: {exc}") from None


def read_document(path: Path, encoding: str, stats: ReadStats) -> str:
    """The whole decoded text, for formats that parse one document (JSON array, CloudTrail)."""
    blocks = []
    total = 0
    for block in iter_blocks(path, stats):
        total += len(block)
        if total > MAX_DOCUMENT_BYTES:
            raise ForensicsError(
                f"{path}: JSON document larger than {MAX_DOCUMENT_BYTES >> 30} GiB; convert it to JSON lines "
                "(one record per line, e.g. `jq -c '.Records[]'`) and ingest with --format jsonl"
            )
        blocks.append(block)
    data = b"".join(blocks)
    stats.lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    # The BOM stays in the text (as U+FEFF): parsers skip it, and byte offsets they compute
    # over the text then match the file.
    stats.bom = data.startswith(UTF8_BOM)
    encoding = check_encoding(encoding)
    chosen = _sniff_for(path, data[3 if stats.bom else 0 : 1 << 20]) if encoding == "auto" else encoding
    stats.encoding = chosen
    try:
        return data.decode(chosen)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ForensicsError(f"{path}:{line}: invalid {chosen} bytes in a JSON document ({exc.reason})") from exc
