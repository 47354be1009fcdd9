"""Structured formats (jsonl, json, cloudtrail, csv, tsv) on real corpora and generated input."""

from __future__ import annotations

import csv
import functools
import io
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.formats.base import FormatOptions, ParseError, ParseResult
from forensics.formats.structured import CLOUDTRAIL, CSV, FORMATS, JSON, JSONL, TSV, StructuredFormat
from forensics.mapping import Mapping, load_mapping

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
MAPPINGS = ROOT / "mappings"


# ------------------------------------------------------------------ helpers (what ingest hands a parser)


def lines_batch(data: bytes, first_line: int = 1, first_offset: int = 0) -> pl.DataFrame:
    """Split like ingest: one row per non-blank line, CR and BOM removed from the text."""
    rows = []
    offset = first_offset
    for i, raw in enumerate(data.split(b"\n")):
        end = offset + len(raw) + 1
        body = raw[:-1] if raw.endswith(b"\r") else raw
        if body.strip():
            text = body.decode("utf-8").removeprefix("\ufeff")
            rows.append((first_line + i, offset, body, text))
        offset = end
    schema = {"line_no": pl.Int64(), "byte_offset": pl.Int64(), "raw": pl.Binary(), "text": pl.String()}
    return pl.DataFrame(rows, schema=schema, orient="row")


def parse_file(fmt: StructuredFormat, path: Path, mapping: Mapping | None, **opts: object) -> ParseResult:
    parser = fmt.parser(FormatOptions(source="test", path=str(path), mapping=mapping, **opts))  # type: ignore[arg-type]
    data = path.read_bytes()
    if fmt.kind == "document":
        return parser.parse_document(data.decode("utf-8"))
    return parser.parse_lines(lines_batch(data))


def parse_text(fmt: StructuredFormat, text: str, mapping: Mapping | None, **opts: object) -> ParseResult:
    parser = fmt.parser(FormatOptions(source="test", path="input", mapping=mapping, **opts))  # type: ignore[arg-type]
    if fmt.kind == "document":
        return parser.parse_document(text)
    return parser.parse_lines(lines_batch(text.encode("utf-8")))


def mapping(name: str) -> Mapping:
    return load_mapping(MAPPINGS / name)


_MAPPING_DIR = tempfile.TemporaryDirectory(prefix="forensics-test-mappings-")


@functools.cache
def cached_mapping(body: str) -> Mapping:
    """Property tests reuse one loaded mapping per body (loading validates it in DuckDB)."""
    path = Path(_MAPPING_DIR.name) / f"m{abs(hash(body))}.toml"
    path.write_text(body, encoding="utf-8")
    return load_mapping(path)


def write_mapping(tmp: Path, body: str) -> Mapping:
    path = tmp / "m.toml"
    path.write_text(body, encoding="utf-8")
    return load_mapping(path)


def accounted(result: ParseResult) -> list[int]:
    parts = [result.events, result.quarantine, result.structural]
    return sorted(x for p in parts if "line_no" in p.columns for x in p["line_no"].to_list())


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


SIMPLE = """
source = "shop"
format = "{fmt}"
tz = "Asia/Shanghai"
[timestamp]
expr = "t"
[columns]
actor_id = "who"
action = "CASE op WHEN 'DECRYPT' THEN 'order.view_unmasked' WHEN 'EXPORT' THEN 'order.export' ELSE 'other' END"
action_raw = "op"
record_count = "n"
"""


# ------------------------------------------------------------------ options and registry


def test_formats_have_names_and_kinds() -> None:
    assert {(f.name, f.kind) for f in FORMATS} == {
        ("jsonl", "lines"),
        ("json", "document"),
        ("cloudtrail", "document"),
        ("csv", "lines"),
        ("tsv", "lines"),
    }


@pytest.mark.parametrize("fmt", [JSONL, JSON, CSV, TSV], ids=lambda f: f.name)
def test_mapping_is_required(fmt: StructuredFormat) -> None:
    with pytest.raises(ParseError) as info:
        fmt.parser(FormatOptions(source="s", path="x.log"))
    assert str(info.value) == f"x.log: format {fmt.name} needs --mapping FILE (see mappings/ for examples)"


def test_csv_mapping_cannot_drive_json(tmp_path: Path) -> None:
    m = write_mapping(tmp_path, SIMPLE.format(fmt="csv"))
    with pytest.raises(ParseError, match="is for format csv, not jsonl"):
        JSONL.parser(FormatOptions(source="s", path="x", mapping=m))


# ------------------------------------------------------------------ JSON lines


def test_jsonl_irregular_lines_are_quarantined_with_reasons(tmp_path: Path) -> None:
    m = write_mapping(tmp_path, SIMPLE.format(fmt="jsonl"))
    text = "\n".join(
        [
            '{"t": "2024-03-01 10:00:00", "who": "u1", "op": "DECRYPT", "order": "O1", "n": "1"}',
            '{"t": "2024-03-01 10:00:01", "who": "u2", "op": "EXPORT", "n": 500, "extra": {"k": [1, 2]}}',
            '{"t": "2024-03-01 10:00:02", "who": "u3"',
            "[1, 2, 3]",
            '{"t": "2024-03-01 10:00:03", "who": "bad \\x escape"}',
            '{"t": "2024-03-01 10:00:04", "who": "\\ud800"}',
            '{"t": "not a time", "who": "u4"}',
            '{"t": "2024-03-01 10:00:05", "n": "many"}',
            '"just a string"',
            '{"t": "2024-03-01T02:00:06Z", "who": "u5", "op": "LIST"} trailing',
        ]
    )
    result = parse_text(JSONL, text, m)
    assert accounted(result) == list(range(1, 11))
    ev = result.events
    assert ev["line_no"].to_list() == [1, 2]
    assert ev["ts"].to_list() == [utc(2024, 3, 1, 2, 0, 0), utc(2024, 3, 1, 2, 0, 1)]
    assert ev["ts_offset"].to_list() == ["Asia/Shanghai"] * 2
    assert ev["action"].to_list() == ["order.view_unmasked", "order.export"]
    assert ev["record_count"].to_list() == [1, 500]
    assert json.loads(ev["attrs"][0]) == {"order": "O1"}
    assert json.loads(ev["attrs"][1]) == {"extra": {"k": [1, 2]}}
    reasons = dict(zip(result.quarantine["line_no"].to_list(), result.quarantine["reason"].to_list(), strict=True))
    assert reasons[3].startswith("invalid JSON: Expecting ',' delimiter: column 41 (char 40)")
    assert reasons[4] == "JSON value is an array, not an object"
    assert reasons[5].startswith("invalid JSON: Invalid \\escape: column 42 (char 41)")
    assert reasons[6] == "invalid JSON: rejected by the JSON engine (e.g. a lone UTF-16 surrogate escape)"
    assert reasons[7] == "unparseable timestamp 'not a time'"
    assert reasons[8].startswith("mapping columns.record_count failed: Conversion Error")
    assert reasons[9] == "JSON value is a string, not an object"
    assert reasons[10].startswith("invalid JSON: Extra data: column 58 (char 57)")
    raw = dict(zip(result.quarantine["line_no"].to_list(), result.quarantine["raw"].to_list(), strict=True))
    assert raw[4] == b"[1, 2, 3]"


def test_jsonl_zoneless_without_zone_refuses_the_file(tmp_path: Path) -> None:
    body = SIMPLE.format(fmt="jsonl").replace('tz = "Asia/Shanghai"\n', "")
    m = write_mapping(tmp_path, body)
    text = '{"t": "2024-03-01T00:00:00Z", "op": "x"}\n{"t": "2024-03-01 10:00:00", "op": "x"}\n'
    with pytest.raises(ParseError, match=r"^input:2: timestamp has no UTC offset or zone; pass --tz ZONE"):
        parse_text(JSONL, text, m)
    result = parse_text(JSONL, text, m, tz=ZoneInfo("UTC"))
    assert result.events["ts"].to_list() == [utc(2024, 3, 1), utc(2024, 3, 1, 10)]


def test_ec2_proxy_s3_exfiltration_through_builtin_cloudtrail() -> None:
    path = DATA / "otrf-security-datasets" / "ec2_proxy_s3_exfiltration_2020-09-14011940.json"
    for fmt in (CLOUDTRAIL, JSONL):
        m = None if fmt is CLOUDTRAIL else mapping("cloudtrail.toml")
        result = parse_file(fmt, path, m)
        ev = result.events
        assert (ev.height, result.quarantine.height) == (103, 0)
        assert ev["line_no"].to_list() == list(range(1, 104))
        first = ev.row(0, named=True)
        assert first["ts"] == utc(2020, 9, 14, 0, 44, 23)
        assert first["actor_id"] == "arn:aws:iam::123456789123:user/pedro"
        assert first["actor_type"] == "sub_account"
        assert first["action_raw"] == "ec2.amazonaws.com:DescribeInstanceTypes"
        assert first["session_id"] == "ASIA5FLZVX4OI4ZDQJOL"
        assert first["request_id"] == "2db6a7b5-876c-4995-8258-e6f09d9ef934"
        assert json.loads(first["attrs"])["eventID"] == "fd4f1042-c7f6-4107-a6ee-d841d92596e7"
        assert ev.filter(pl.col("action_raw") == "s3.amazonaws.com:GetObject").height == 2
        assert ev.filter(pl.col("action") == "auth.login").height == 5  # sts AssumeRole
        assert ev["actor_type"].value_counts().sort("actor_type").rows() == [
            ("sub_account", 98),
            ("system", 5),
        ]


# ------------------------------------------------------------------ CloudTrail documents


def test_cloudtrail_bad_json_document_is_one_quarantine_row() -> None:
    path = DATA / "aws-cloudtrail-processing-library" / "SerializerTestFileBadJsonFormat.json"
    result = parse_file(CLOUDTRAIL, path, None)
    assert result.events.height == 0
    assert result.quarantine.height == 1
    row = result.quarantine.row(0, named=True)
    assert (row["line_no"], row["byte_offset"]) == (1, 0)
    assert row["raw"] == path.read_bytes()
    # the missing '}' after userIdentity (line 12) is only detectable where the next record opens
    assert row["reason"] == (
        "invalid JSON document: Expecting property name enclosed in double quotes: line 37 column 9 (char 1293)"
    )


def test_cloudtrail_all_fields_null() -> None:
    path = DATA / "aws-cloudtrail-processing-library" / "SerializerAllFieldsNull.json"
    result = parse_file(CLOUDTRAIL, path, None)
    assert result.quarantine.select("line_no", "reason").rows() == [(3, "missing timestamp")]
    ev = result.events.row(0, named=True)
    assert (ev["line_no"], ev["ts"], ev["outcome"]) == (21, utc(2013, 11, 1), "failure")  # errorCode2
    assert ev["actor_id"] == "userIdentityArn2"
    data = path.read_bytes()
    for offset, raw in zip(
        [ev["byte_offset"], *result.quarantine["byte_offset"].to_list()],
        [b"{", *[r[:1] for r in result.quarantine["raw"].to_list()]],
        strict=True,
    ):
        assert data[offset : offset + 1] == raw == b"{"


def test_cloudtrail_various_user_identity() -> None:
    path = DATA / "aws-cloudtrail-processing-library" / "SerializerVariousUserIdentityTestFile.json"
    result = parse_file(CLOUDTRAIL, path, None)
    assert result.quarantine.height == 0
    ev = result.events.row(0, named=True)
    assert (ev["line_no"], ev["byte_offset"]) == (3, 27)
    assert ev["actor_id"] == "userIdentityArn1"
    assert ev["session_id"] == "userIdentityAccessKeyId1"
    assert ev["action_raw"] == "eventSource1:eventName1"
    assert json.loads(ev["attrs"])["resources"][2] == {"ARN": "arn:aws:iam:sample3", "accountId": "acccountId3"}


def test_cloudtrail_single_line_envelope_and_offsets() -> None:
    records = [
        {
            "eventTime": f"2024-03-01T00:00:0{i}Z",
            "eventName": name,
            "eventSource": "s3.amazonaws.com",
            "userIdentity": {"type": "Root", "arn": "arn:aws:iam::1:root"},
            "note": "é中",
        }
        for i, name in enumerate(["GetObject", "ConsoleLogin", "PutBucketPolicy"])
    ]
    text = json.dumps({"Records": records}, ensure_ascii=False) + "\n"
    result = parse_text(CLOUDTRAIL, text, None)
    ev = result.events
    assert ev["line_no"].to_list() == [1, 1, 1]
    assert ev["action"].to_list() == ["api.call", "auth.login", "permission.change"]
    data = text.encode("utf-8")
    for offset, name in zip(ev["byte_offset"].to_list(), ["GetObject", "ConsoleLogin", "PutBucketPolicy"], strict=True):
        record, _ = json.JSONDecoder().raw_decode(data[offset:].decode("utf-8"))
        assert record["eventName"] == name


def test_cloudtrail_json_lines_with_broken_lines() -> None:
    good = '{"eventTime": "2024-03-01T00:00:00Z", "eventName": "GetObject", "eventSource": "s3.amazonaws.com"}'
    text = "\n".join(['{"eventTime": "2024-03-01T00:00:0', good, good, "", good.replace("GetObject", "中"), "{"])
    result = parse_text(CLOUDTRAIL, text + "\n", None)
    assert result.events["line_no"].to_list() == [2, 3, 5]
    assert result.events["action_raw"][2] == "s3.amazonaws.com:中"
    assert result.quarantine.select("line_no", "reason").rows() == [
        (1, "invalid JSON: Unterminated string starting at: column 15 (char 14)"),
        (6, "invalid JSON: Expecting property name enclosed in double quotes: column 2 (char 1)"),
    ]
    data = (text + "\n").encode("utf-8")
    for offset, line_no in zip(result.events["byte_offset"], result.events["line_no"], strict=True):
        assert data[:offset].count(b"\n") == line_no - 1 and data[offset : offset + 1] == b"{"


def test_json_array_with_non_object_elements(tmp_path: Path) -> None:
    m = write_mapping(tmp_path, SIMPLE.format(fmt="json"))
    text = '[\n  {"t": "2024-03-01 08:00:00", "who": "a"},\n  42,\n  {"t": "2024-03-01 08:00:01",\n   "who": "b"}\n]\n'
    result = parse_text(JSON, text, m)
    second = text.encode().index(b'{"t": "2024-03-01 08:00:01"')
    assert result.events.select("line_no", "byte_offset", "actor_id").rows() == [(2, 4, "a"), (4, second, "b")]
    assert result.quarantine.select("line_no", "raw", "reason").rows() == [
        (3, b"42", "JSON value is a number, not an object")
    ]


@pytest.mark.parametrize("text", ["[]\n", '{"Records": []}\n', '{"Records": []}\n[]\n', "\n"])
def test_empty_containers_have_no_records(text: str) -> None:
    result = parse_text(CLOUDTRAIL, text, None)
    assert (result.events.height, result.quarantine.height) == (0, 0)


def test_json_document_truncated(tmp_path: Path) -> None:
    m = write_mapping(tmp_path, SIMPLE.format(fmt="json"))
    result = parse_text(JSON, '[\n {"t": "2024-03-01 08:00:00"},\n {"t": ', m)
    assert result.events.height == 0
    assert result.quarantine["reason"].to_list() == [
        "invalid JSON document: Expecting value: line 3 column 8 (char 40)"
    ]


def test_plaso_cloudtrail_lookup_events_conformance() -> None:
    expected = plaso_case("aws_cloudtrail.jsonl")
    result = parse_file(CLOUDTRAIL, DATA / "plaso" / "aws_cloudtrail.jsonl", mapping("cloudtrail_lookup_events.toml"))
    assert result.events.height == expected["expected_event_data"] == 6
    assert result.quarantine.height == expected["expected_extraction_warnings"] == 0
    want = expected["events"][0]["expected"]
    ev = result.events.row(want_index(expected), named=True)
    assert ev["ts"] == datetime.fromisoformat(want["recorded_time"])
    assert ev["ts_offset"] == "+11:00"
    assert ev["action_raw"] == f"{want['event_source']}:{want['event_name']}"
    assert ev["ip"] == want["source_ip"]
    assert ev["actor_id"] == want["user_identity_arn"]
    assert ev["session_id"] == want["access_key"]
    assert result.events["line_no"].to_list() == [1, 2, 3, 4, 5, 6]


# ------------------------------------------------------------------ plaso jsonl conformance


def plaso_case(filename: str) -> dict:
    cases = json.loads((DATA / "plaso" / "plaso_parser_expectations.json").read_text())["tests"]
    return next(c for c in cases if c["files"] and c["files"][-1] == filename)


def want_index(case: dict) -> int:
    return int(case["events"][0]["index"])


def test_plaso_gcp_conformance() -> None:
    case = plaso_case("gcp_logging.jsonl")
    result = parse_file(JSONL, DATA / "plaso" / "gcp_logging.jsonl", mapping("gcp_audit.toml"))
    assert result.events.height == case["expected_event_data"] == 11
    assert result.quarantine.height == 0
    for item in case["events"]:
        ev = result.events.row(item["index"], named=True)
        want = item["expected"]
        assert ev["ts"] == datetime.fromisoformat(want["recorded_time"])
        assert ev["action_raw"] == want["event_subtype"]
        assert ev["ip"] == want["caller_ip"]
        assert ev["user_agent"] == want["user_agent"]
        if "principal_email" in want:
            assert ev["actor_id"] == want["principal_email"]


def test_plaso_m365_conformance() -> None:
    case = plaso_case("microsoft_audit_log.jsonl")
    result = parse_file(JSONL, DATA / "plaso" / "microsoft_audit_log.jsonl", mapping("m365_audit.toml"))
    assert result.events.height == case["expected_event_data"] == 4
    want = case["events"][0]["expected"]
    ev = result.events.row(0, named=True)
    assert ev["ts"] == datetime.fromisoformat(want["recorded_time"])
    assert ev["ts_offset"] == "UTC"
    assert ev["actor_id"] == want["user_identifier"]
    assert ev["action_raw"] == f"{want['workload']}:{want['operation_name']}"
    assert ev["request_id"] == want["audit_record_identifier"]
    assert ev["merchant_id"] == want["organization_identifier"]
    assert ev["outcome"] == "success"
    assert result.events["action"].to_list() == ["config.change", "config.change", "config.change", "auth.login"]


def test_plaso_azure_activity_conformance() -> None:
    case = plaso_case("azure_activity_log.jsonl")
    result = parse_file(JSONL, DATA / "plaso" / "azure_activity_log.jsonl", mapping("azure_activity.toml"))
    assert result.events.height == case["expected_event_data"] == 4
    want = case["events"][0]["expected"]
    ev = result.events.row(0, named=True)
    assert ev["ts"] == datetime.fromisoformat(want["recorded_time"])
    assert ev["ip"] == want["client_ip"]
    assert ev["actor_id"] == want["caller"]
    assert ev["session_id"] == want["correlation_identifier"]
    assert ev["request_id"] == want["event_data_identifier"]
    assert ev["action_raw"] == f"{want['operation_name']} {want['event_name']}"


# ------------------------------------------------------------------ other corpora


def test_azure_ad_audit_events() -> None:
    result = parse_file(JSONL, DATA / "otrf-security-datasets" / "AADAuditEvents.json", mapping("azure_ad_audit.toml"))
    ev = result.events
    assert (ev.height, result.quarantine.height) == (4, 0)
    assert ev["action"].to_list() == ["config.change", "config.change", "config.change", "permission.change"]
    assert ev["action_raw"][0] == "Update application – Certificates and secrets management"
    assert ev["actor_id"].unique().to_list() == ["pgustavo@simulandlabs.com"]
    assert ev["ts"][3] == utc(2021, 8, 2, 13, 27, 20, 17000)
    assert ev["byte_offset"].to_list() == [0, 2611, 5134, 7643]
    assert json.loads(ev["attrs"][0])["targetDisplayName"] == "SimuLandApp"


def test_sentinel_syslog_auoms() -> None:
    path = (
        DATA
        / "otrf-security-datasets"
        / ("syslog_auoms_auditd_log4shell_cve2021_44228_jndi_reference_2022-05-11181020.json")
    )
    result = parse_file(JSONL, path, mapping("sentinel_syslog.toml"))
    ev = result.events
    assert (ev.height, result.quarantine.height) == (50, 0)
    assert ev["node"].unique().to_list() == ["UBUNTU5"]
    assert ev["seq"][:2].to_list() == [84138, 84139]
    assert ev["actor_id"][0] == "tomcat"
    assert ev["outcome"][0] == "failure"


@pytest.mark.parametrize(
    ("name", "events", "quarantined", "first"),
    [
        ("exec_pod.json", 1, 0, ("minikube-user", "api.call", "create pods/exec", 101)),
        ("anonymous_creates_namespace_foo.json", 1, 0, ("system:anonymous", "config.change", "create namespaces", 201)),
        ("create_configmap_sensitive_values.json", 6, 0, ("minikube-user", "config.change", "create configmaps", 201)),
        ("fal_01_003.json", 0, 1, None),
    ],
)
def test_k8s_audit(name: str, events: int, quarantined: int, first: tuple | None) -> None:
    result = parse_file(JSONL, DATA / "falco-k8s-audit" / name, mapping("k8s_audit.toml"))
    assert (result.events.height, result.quarantine.height) == (events, quarantined)
    if first is None:
        assert result.quarantine["reason"].to_list() == ["missing timestamp"]
    else:
        assert result.events.select("actor_id", "action", "action_raw", "status").row(0) == first


def test_s3_honeybucket_csv() -> None:
    path = DATA / "otrf-security-datasets" / "AWS_S3_HoneyBucketLogs.csv"
    result = parse_file(CSV, path, mapping("s3_honeybucket.toml"))
    assert result.structural.select("line_no", "byte_offset", "reason").rows() == [(1, 0, "csv header")]
    ev = result.events
    assert (ev.height, result.quarantine.height) == (301, 0)
    assert accounted(result) == list(range(1, 303))
    first = ev.row(0, named=True)
    assert first["ts"] == utc(2022, 2, 18, 17, 34, 57)
    assert first["actor_id"] == "ANONYMOUS_PRINCIPAL"
    assert first["actor_type"] == "anonymous"
    assert first["ip"] == "177.131.167.145"
    assert first["url_path"] == "/microsoft-devtest"
    assert json.loads(first["attrs"])["Alert"] == " 302-2022-02-18T17:34:57Z"
    assert ev["action_raw"].value_counts().sort("action_raw").rows() == [
        ("HeadBucket", 159),
        ("ListObjects", 138),
        ("PutObject", 4),
    ]
    assert ev.filter(pl.col("user_agent").is_null()).height > 0  # empty UA cell -> NULL via nullif


# ------------------------------------------------------------------ CSV / TSV mechanics

CSV_MAPPING = SIMPLE + "[csv]\n"


def test_csv_quoting_header_and_bad_lines(tmp_path: Path) -> None:
    m = write_mapping(tmp_path, CSV_MAPPING.format(fmt="csv"))
    text = (
        "t,who,op,note\n"
        '2024-03-01 08:00:00,"Zhang, San",DECRYPT,"said ""hi"""\n'
        "2024-03-01 08:00:01,li,EXPORT\n"
        '2024-03-01 08:00:02,"unterminated,EXPORT,x\n'
        '2024-03-01 08:00:03,wang,"EXP"ORT,x\n'
        "2024-03-01 08:00:04,zhao,LIST,plain\n"
    )
    result = parse_text(CSV, text, m)
    assert accounted(result) == [1, 2, 3, 4, 5, 6]
    assert result.structural["raw"].to_list() == [b"t,who,op,note"]
    ev = result.events
    assert ev.select("line_no", "actor_id", "action").rows() == [
        (2, "Zhang, San", "order.view_unmasked"),
        (6, "zhao", "other"),
    ]
    assert json.loads(ev["attrs"][0]) == {"note": 'said "hi"'}
    reasons = dict(result.quarantine.select("line_no", "reason").rows())
    assert reasons == {
        3: "expected 4 cells, found 3",
        4: "unterminated quoted cell (a quoted value must close on the same line)",
        5: "malformed CSV line: ',' expected after '\"'",
    }


def test_csv_header_is_read_once_across_batches(tmp_path: Path) -> None:
    m = write_mapping(tmp_path, CSV_MAPPING.format(fmt="csv"))
    parser = CSV.parser(FormatOptions(source="s", path="p", mapping=m))
    first = parser.parse_lines(lines_batch(b"who,t,op\nu1,2024-03-01 08:00:00,DECRYPT\n"))
    second = parser.parse_lines(lines_batch(b"u2,2024-03-01 08:00:01,EXPORT\n", first_line=3, first_offset=39))
    assert first.structural.height == 1 and second.structural.height == 0
    assert first.events["actor_id"].to_list() == ["u1"]
    assert second.events.select("line_no", "byte_offset", "actor_id").rows() == [(3, 39, "u2")]


def test_csv_unreadable_header_refuses_the_file(tmp_path: Path) -> None:
    m = write_mapping(tmp_path, CSV_MAPPING.format(fmt="csv"))
    with pytest.raises(ParseError, match=r"^input:1: duplicate column name 'who'"):
        parse_text(CSV, "t,who,who\n", m)
    with pytest.raises(ParseError, match=r"^input:1: cannot read the CSV header: unterminated quoted cell"):
        parse_text(CSV, '"t,who\n', m)


def test_tsv_without_header(tmp_path: Path) -> None:
    body = SIMPLE.format(fmt="tsv") + '[csv]\nheader = false\ncolumns = ["t", "who", "op"]\n'
    m = write_mapping(tmp_path, body)
    result = parse_text(TSV, '2024-03-01 08:00:00\t"quoted, kept"\tDECRYPT\n2024-03-01 08:00:01\tx\n', m)
    assert result.structural.height == 0
    assert result.events["actor_id"].to_list() == ['"quoted, kept"']  # TSV has no quoting
    assert result.quarantine["reason"].to_list() == ["expected 3 cells, found 2"]


# ------------------------------------------------------------------ sniffing


def test_sniff() -> None:
    ec2 = (DATA / "otrf-security-datasets" / "ec2_proxy_s3_exfiltration_2020-09-14011940.json").read_text()
    sample = ec2.splitlines()[:5]
    assert CLOUDTRAIL.sniff(sample) > JSONL.sniff(sample) > 0.5
    envelope = (DATA / "aws-cloudtrail-processing-library" / "SerializerAllFieldsNull.json").read_text().splitlines()
    assert CLOUDTRAIL.sniff(envelope[:10]) > 0.9
    honey = (DATA / "otrf-security-datasets" / "AWS_S3_HoneyBucketLogs.csv").read_text().splitlines()[:10]
    assert CSV.sniff(honey) > 0.0 and JSONL.sniff(honey) == 0.0
    assert TSV.sniff(["a\tb", "1\t2"]) > 0.5
    assert JSON.sniff(["[", '{"a": 1}']) > 0.5
    assert CLOUDTRAIL.sniff(["hello world"]) == 0.0


# ------------------------------------------------------------------ properties

FIELD_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
RECORDS = st.lists(
    st.fixed_dictionaries(
        {
            "t": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),  # noqa: DTZ001
            "who": FIELD_TEXT,
            "op": st.sampled_from(["DECRYPT", "EXPORT", "LIST"]),
            "n": st.integers(0, 2**40),
            "note": FIELD_TEXT,
        }
    ),
    min_size=1,
    max_size=25,
)
ACTION = {"DECRYPT": "order.view_unmasked", "EXPORT": "order.export", "LIST": "other"}


def _check_round_trip(result: ParseResult, records: list[dict]) -> int:
    """Assert every record came back with its values; return how many events were checked."""
    ev = result.events
    assert result.quarantine.height == 0
    assert ev["actor_id"].to_list() == [r["who"] for r in records]
    assert ev["action"].to_list() == [ACTION[r["op"]] for r in records]
    assert ev["record_count"].to_list() == [r["n"] for r in records]
    zone = ZoneInfo("Asia/Shanghai")
    assert ev["ts"].to_list() == [r["t"].replace(tzinfo=zone).astimezone(UTC) for r in records]
    assert [json.loads(a)["note"] for a in ev["attrs"].to_list()] == [r["note"] for r in records]
    return ev.height


@settings(max_examples=120, deadline=None)
@given(records=RECORDS)
def test_jsonl_round_trip(records: list[dict]) -> None:
    m = cached_mapping(SIMPLE.format(fmt="jsonl"))
    lines = [json.dumps({**r, "t": r["t"].isoformat(sep=" "), "n": str(r["n"])}, ensure_ascii=False) for r in records]
    assert _check_round_trip(parse_text(JSONL, "\n".join(lines) + "\n", m), records) == len(records)


@settings(max_examples=120, deadline=None)
@given(records=RECORDS)
def test_csv_round_trip(records: list[dict]) -> None:
    m = cached_mapping(CSV_MAPPING.format(fmt="csv"))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["t", "who", "op", "n", "note"])
    for r in records:
        writer.writerow([r["t"].isoformat(sep=" "), r["who"], r["op"], r["n"], r["note"]])
    assert _check_round_trip(parse_text(CSV, out.getvalue(), m), records) == len(records)


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=60),
            st.sampled_from(['{"t": "2024-03-01 08:00:00", "who": "x"}', "{", "[]", "null", '{"t": 1}', '"', ",,,"]),
        ),
        max_size=30,
    ),
    fmt=st.sampled_from([JSONL, CSV]),
)
def test_never_crashes_and_every_line_is_accounted(lines: list[str], fmt: StructuredFormat) -> None:
    m = cached_mapping((CSV_MAPPING if fmt is CSV else SIMPLE).format(fmt=fmt.name))
    if fmt is CSV:  # an unreadable header refuses the file (tested above); fuzz the records
        lines = ["t,who,op,n,note", *lines]
    batch = lines_batch("\n".join(lines).encode("utf-8"))
    result = fmt.parser(FormatOptions(source="s", path="p", mapping=m)).parse_lines(batch)
    assert accounted(result) == batch["line_no"].to_list()
    assert set(result.events.columns) >= {"line_no", "byte_offset"}


def _empty_container(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return value == [] or value == {"Records": []}


@settings(max_examples=100, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_documents_never_crash(text: str) -> None:
    result = CLOUDTRAIL.parser(FormatOptions(source="s", path="p")).parse_document(text)
    stripped = text.strip(" \t\r\n\ufeff")
    if stripped and not _empty_container(stripped):
        assert result.events.height + result.quarantine.height >= 1
    data = text.encode("utf-8")
    for offset, raw in zip(result.quarantine["byte_offset"].to_list(), result.quarantine["raw"].to_list(), strict=True):
        assert data[offset : offset + len(raw)] == raw
