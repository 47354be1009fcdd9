"""--format auto: the format string that reads the most sample lines wins, and says so (issue 15.1).

Every line here is written for these tests."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.case import Case
from forensics.cli import main
from forensics.errors import UsageError
from forensics.formats.accesslog import AccessLogParser, compile_log_format
from forensics.formats.base import FormatOptions
from forensics.formats.detect import detect
from forensics.ingest import IngestOptions, ingest_paths
from forensics.testing import access_log_lines
from forensics.testing.accesslog import APACHE_PRESETS, NGINX_PRESETS

APACHE_COMMON = '::1 - - [26/Dec/2016:16:16:28 +0200] "GET / HTTP/1.1" 200 45\n'
NGINX_MAIN = (
    '10.1.2.3 - - [03/Mar/2024:10:00:0{n} +0800] "GET /orders/{n} HTTP/1.1" 200 512 "-" "curl/8.0" "203.0.113.{n}"\n'
)


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def test_stock_apache_common_line_is_read_as_common(case: Case, tmp_path: Path) -> None:
    report = ingest_paths(case, [_write(tmp_path, "access.log", APACHE_COMMON)], IngestOptions())
    f = report.files[0]
    assert (f.events, f.quarantined) == (1, 0)
    assert f.log_format == "common"
    assert f.detection is not None and "common" in f.detection
    entry = json.loads(case.manifest_path.read_text())["inputs"][0]
    assert entry["log_format"] == "common" and entry["format"] in ("nginx", "apache")
    assert entry["format_detection"]["chosen"].endswith("/common")
    _, rows = case.query_readonly("SELECT ip, status, bytes, url_path FROM events")
    assert rows == [("::1", 200, 45, "/")]


def test_nginx_main_log_is_read_as_main(case: Case, tmp_path: Path) -> None:
    text = "".join(NGINX_MAIN.format(n=n) for n in range(10))
    report = ingest_paths(case, [_write(tmp_path, "access.log", text)], IngestOptions())
    f = report.files[0]
    assert (f.events, f.quarantined, f.log_format) == (10, 0, "main")


def test_vhost_combined_is_chosen(case: Case, tmp_path: Path) -> None:
    line = 'shop.example:443 10.0.0.9 - bob [03/Mar/2024:10:00:00 +0000] "POST /login HTTP/2.0" 302 0 "-" "x"\n'
    report = ingest_paths(case, [_write(tmp_path, "a.log", line * 3)], IngestOptions())
    assert (report.files[0].events, report.files[0].log_format) == (3, "vhost_combined")


def test_apache_escapes_choose_apache(tmp_path: Path) -> None:
    lines = ['1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] "GET /\\"x\\" HTTP/1.1" 200 1 "-" "a"']
    chosen = detect(lines).chosen
    assert chosen is not None and (chosen.format, chosen.log_format) == ("apache", "combined")


def test_no_fit_refuses_with_every_candidates_score(case: Case, tmp_path: Path) -> None:
    path = _write(tmp_path, "odd.log", "hello world\nthis is not a log\n")
    with pytest.raises(UsageError) as err:
        ingest_paths(case, [path], IngestOptions())
    message = str(err.value)
    assert "cannot tell the format" in message
    assert "nginx/combined 0/2" in message and "syslog 0/2" in message and "--format" in message


def test_explicit_log_format_with_auto_is_honoured(case: Case, tmp_path: Path) -> None:
    line = "10.0.0.1 [03/Mar/2024:10:00:00 +0000] 204\n"
    opts = IngestOptions(log_format="$remote_addr [$time_local] $status")
    report = ingest_paths(case, [_write(tmp_path, "a.log", line)], opts)
    assert (report.files[0].events, report.files[0].log_format) == (1, "$remote_addr [$time_local] $status")


def test_cli_says_which_format_it_chose(tmp_path: Path) -> None:
    from click.testing import CliRunner

    case = tmp_path / "case"
    assert CliRunner().invoke(main, ["init", str(case)]).exit_code == 0
    log = _write(tmp_path, "access.log", APACHE_COMMON)
    result = CliRunner().invoke(main, ["ingest", str(case), str(log), "--json"])
    assert result.exit_code == 0, result.stderr
    assert "--format auto chose" in result.stderr and "/common" in result.stderr
    data = json.loads(result.stdout)
    assert data["files"][0]["log_format"] == "common"
    assert "common" in data["files"][0]["detection"]


# ------------------------------------------------------------------ property


_PRESETS = sorted({("nginx", p) for p in NGINX_PRESETS} | {("apache", p) for p in APACHE_PRESETS})


def _canonical(flavor: str, preset: str, lines: list[str]) -> pl.DataFrame:
    cf = compile_log_format(preset, flavor)  # type: ignore[arg-type]
    batch = pl.DataFrame(
        {
            "line_no": list(range(1, len(lines) + 1)),
            "byte_offset": [0] * len(lines),
            "raw": [s.encode() for s in lines],
            "text": lines,
        },
        schema={"line_no": pl.Int64, "byte_offset": pl.Int64, "raw": pl.Binary, "text": pl.String},
    )
    result = AccessLogParser(cf, FormatOptions(source="t", path="t")).parse_lines(batch)
    assert result.quarantine.height == 0
    return result.events.drop("attrs")  # raw names differ between flavors (%O is bytes_sent)


@st.composite
def _samples(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    flavor, preset = draw(st.sampled_from(_PRESETS))
    lines = draw(st.lists(access_log_lines(preset, flavor), min_size=1, max_size=8))  # type: ignore[arg-type]
    return flavor, preset, [g.raw.decode() for g in lines]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_samples())
def test_auto_picks_the_generating_preset(sample: tuple[str, str, list[str]]) -> None:
    flavor, preset, lines = sample
    chosen = detect(lines).chosen
    assert chosen is not None
    assert chosen.log_format == preset, (flavor, preset, chosen)
    if chosen.format != flavor:  # the flavors write presets alike: the other must read them the same
        assert _canonical(chosen.format, preset, lines).equals(_canonical(flavor, preset, lines))


@st.composite
def _other_samples(draw: st.DrawFn) -> tuple[str, list[str]]:
    from datetime import UTC, datetime

    from forensics.testing import syslog_lines, w3c_field_lists, w3c_header, w3c_records

    if draw(st.booleans()):
        lines = draw(st.lists(syslog_lines(), min_size=1, max_size=8))
        return "syslog", [g.raw.decode() for g in lines]
    fields = draw(w3c_field_lists())
    header = [g.raw.decode() for g in w3c_header(fields, datetime(2021, 4, 1, tzinfo=UTC))]
    records = draw(st.lists(w3c_records(fields), min_size=1, max_size=6))
    return "w3c", header + [g.raw.decode() for g in records]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_other_samples())
def test_auto_picks_syslog_and_w3c_for_their_generated_samples(sample: tuple[str, list[str]]) -> None:
    name, lines = sample
    chosen = detect(lines).chosen
    assert chosen is not None and chosen.format == name, (name, lines[:3], detect(lines).scores())
