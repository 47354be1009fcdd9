"""Corpus sweep: every third-party log in the project's corpora, ingested into a case.

Each access log, syslog, JSON/CSV audit export and CloudTrail file of /work/shared/corpora
(SOURCES.md; copies under tests/data/<corpus>/, attribution in tests/data/ATTRIBUTION.md) goes
through ``forensics.ingest.ingest_paths`` with the format, --log-format or mapping its writer
used. For each file the report and the manifest entry must satisfy the accounting invariant

    line formats:      lines = events + quarantined + blank + structural
    document formats:  records = events + quarantined

and give the event and quarantine counts verified by reading the file. Where a file mixes
layouts or cannot be read meaningfully with one format, its lines are still accounted for
(quarantined with a reason) and the spec says why. Files that are not logs of those kinds are
listed in EXCLUDED with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from forensics.case import Case, init_case
from forensics.errors import ForensicsError, UsageError
from forensics.formats import REGISTRY
from forensics.ingest import FileReport, IngestOptions, ingest_paths

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
MAPPINGS = ROOT / "mappings"
DOCUMENT_FORMATS = {"json", "cloudtrail"}

# ------------------------------------------------------------------ format strings written for these corpora

# Atlassian Tomcat AccessLogValve (Jira < 9.4, Confluence < 7.11):
#   %t %{X-AUSERNAME}o %I %h %r %s %Dms %b %{Referer}i %{User-Agent}i
# Tomcat's %I (thread) is a note here; %u stands for X-AUSERNAME so the user lands in actor_id;
# the request is written unquoted, so it is read as method, URI and protocol.
ATLASSIAN = "%t %u %{thread}n %h %m %U %H %>s %{ms}Tms %b %{Referer}i %{User-Agent}i"
# Jira >= 9.4 and Confluence >= 7.11 add the X-Forwarded-For client before the user.
ATLASSIAN_XFF = "%t %{X-Forwarded-For}i %u %{thread}n %h %m %U %H %>s %{ms}Tms %b %{Referer}i %{User-Agent}i"
# Bitbucket access log: fields separated by " | ", local time with milliseconds after a comma.
BITBUCKET = (
    '%h | %{protocol}n | %{request_id}n | %u | %{%Y-%m-%d %H:%M:%S}t,%{msec_frac}t | "%r" | "%{Referer}i" '
    '"%{User-Agent}i" | %>s | %I | %O | %{labels}n | %{ms}T | %{session}n |'
)
# AWS Application Load Balancer access log (docs.aws.amazon.com, "Access log entries").
AWS_ALB = (
    "$type $time_iso8601 $elb $remote_addr:$remote_port $target $request_processing_time $target_processing_time "
    "$response_processing_time $status $target_status_code $request_length $bytes_sent "
    '"$request" "$http_user_agent" $ssl_cipher $ssl_protocol $target_group_arn "$trace_id" "$domain_name" '
    '"$chosen_cert_arn" $matched_rule_priority $request_creation_time "$actions_executed" "$redirect_url" '
    '"$error_reason" "$target_port_list" "$target_status_code_list" "$classification" "$classification_reason"'
)
# AWS Classic Load Balancer access log.
AWS_CLB = (
    "$time_iso8601 $elb $remote_addr:$remote_port $backend $request_processing_time $backend_processing_time "
    '$response_processing_time $status $backend_status_code $request_length $bytes_sent "$request" '
    '"$http_user_agent" $ssl_cipher $ssl_protocol'
)
# AWS Network Load Balancer TLS access log: its time carries no zone (AWS writes UTC), hence --tz UTC.
AWS_NLB = (
    "%{type}n %{version}n %{%Y-%m-%dT%H:%M:%S}t %{elb}n %{listener}n %h:%{remote}p %{destination}n "
    "%{connection_time}n %{tls_handshake_time}n %I %O %{incoming_tls_alert}n %{chosen_cert_arn}n "
    "%{chosen_cert_serial}n %{tls_cipher}n %{tls_protocol_version}n %{tls_named_group}n %{domain_name}n "
    "%{alpn_fe_protocol}n %{alpn_be_protocol}n %{alpn_client_preference_list}n"
)
NGINX_HOST_XFF = (
    '$host $proxy_add_x_forwarded_for - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)


@dataclass(frozen=True)
class Spec:
    path: str  # under tests/data
    options: dict[str, Any]
    events: int
    quarantined: int
    why: str = ""  # why lines are quarantined, when some are
    reasons: dict[int, str] = field(default_factory=dict)  # line_no -> start of the quarantine reason
    xfail: str = ""  # a known bug in a parser not owned here: the spec states the right result

    @property
    def id(self) -> str:
        fmt = self.options.get("log_format") or self.options.get("mapping") or self.options.get("format")
        return f"{self.path}[{str(fmt)[:24]}]"


def _syslog(year: int, tz: str = "UTC") -> dict[str, Any]:
    # RFC 3164 has neither year nor zone: the corpora's upstream tests fixed both; so do we
    return {"format": "syslog", "tz": tz, "year": year}


SPECS: list[Spec] = [
    # ---- access logs
    Spec(
        "elastic-examples/apache_logs",
        {"format": "apache", "log_format": "combined"},
        9999,
        1,
        "l.8899: the user agent is cut off (unterminated quote)",
        {8899: "truncated line: unterminated quoted field http_user_agent"},
    ),
    Spec(
        "plaso/apache_access.log",
        {"format": "apache", "log_format": "combined"},
        6,
        9,
        "the file mixes common, combined and vhost_combined lines (test_accesslog reads each with its own "
        "format: 14 events, plaso's count); line 8 is truncated",
        {8: "truncated line"},
    ),
    Spec(
        "elastic-beats/nginx-access/test.log",
        {"format": "nginx", "log_format": "combined"},
        2,
        5,
        "filebeat's grok fixture: seven lines from four nginx configurations (test_accesslog reads each)",
    ),
    Spec(
        "elastic-beats/nginx-access/test-with-host.log",
        {"format": "nginx", "log_format": NGINX_HOST_XFF},
        5,
        5,
        "lines 2, 9, 10 add a trailing X-Forwarded-For, 5 and 6 move the chain: other configurations",
    ),
    Spec(
        "elastic-beats/nginx-access/access.log",
        {"format": "nginx", "log_format": "combined"},
        12,
        1,
        "line 13 has a virtual-host prefix (another configuration)",
        {13: "line does not match log format"},
    ),
    Spec(
        "elastic-beats/apache-access/test.log",
        {"format": "apache", "log_format": "combined"},
        2,
        5,
        "common, combined and main lines mixed (test_accesslog reads each with its own)",
    ),
    Spec(
        "elastic-beats/apache-access/test-vhost.log",
        {"format": "apache", "log_format": '%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'},
        1,
        0,
    ),
    Spec(
        "elastic-beats/apache-access/ssl-request.log",
        {"format": "apache", "log_format": r"%t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x \"%r\" %b"},
        2,
        0,
    ),
    Spec("lars/test_apache.EXAMPLE_01.log", {"format": "apache", "log_format": "common"}, 2, 0),
    Spec("lars/test_apache.EXAMPLE_02.log", {"format": "apache", "log_format": "combined"}, 2, 0),
    Spec(
        "lars/test_apache.EXAMPLE_03.log",
        {"format": "apache", "log_format": "combined"},
        0,
        4,
        'lars reads these "%{remote}p,%{local}p %B" rows, which carry no time: no format that places events '
        "in time can read them, so every line is quarantined",
        {1: "truncated line: ends before remote_user"},
    ),
    Spec(
        "lars/test_apache.EXAMPLE_04.log",
        {"format": "apache", "log_format": "%{%Y-%m-%dT%H:%M:%S%z}t %H %m %U%q %>s %b"},
        2,
        0,
    ),
    Spec("lars/test_apache.INVALID_CHARS.log", {"format": "apache", "log_format": "common"}, 1, 0),
    Spec("lars/test_apache.INVALID_REMOTE_HOST.log", {"format": "apache", "log_format": "combined"}, 1, 0),
    Spec(
        "lars/test_apache.MULTIPLE_REMOTE_HOSTS.log",
        {"format": "apache", "log_format": '%{X-Forwarded-For}i %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"'},
        1,
        0,
    ),
    # AWS: ten ALB, four Classic and two NLB records in one file (plaso: 16 events); each layout has its
    # own format string and each run quarantines the other layouts' lines
    Spec(
        "plaso/aws_elb_access.log",
        {"format": "nginx", "log_format": AWS_ALB},
        10,
        6,
        "lines 11-16 are Classic and Network Load Balancer records",
    ),
    Spec(
        "plaso/aws_elb_access.log",
        {"format": "nginx", "log_format": AWS_CLB},
        4,
        12,
        "lines 1-10 and 15-16 are Application and Network Load Balancer records",
    ),
    Spec(
        "plaso/aws_elb_access.log",
        {"format": "apache", "log_format": AWS_NLB, "tz": "UTC"},
        2,
        14,
        "lines 1-14 are Application and Classic Load Balancer records",
    ),
    Spec("plaso/jira_access.log", {"format": "apache", "log_format": ATLASSIAN}, 4, 0),
    Spec("plaso/jira_access_months.log", {"format": "apache", "log_format": ATLASSIAN}, 12, 0),
    Spec("plaso/jira_access_post9.4.log", {"format": "apache", "log_format": ATLASSIAN_XFF}, 2, 0),
    Spec("plaso/confluence_access.log", {"format": "apache", "log_format": ATLASSIAN}, 3, 0),
    Spec("plaso/confluence_access_post7.11.log", {"format": "apache", "log_format": ATLASSIAN_XFF}, 1, 0),
    Spec(
        "plaso/atlassian-bitbucket-access.log",
        {"format": "apache", "log_format": BITBUCKET, "tz": "UTC"},
        7,
        1,
        "plaso counts 8. Lines 1, 4 and 8 have labels with blanks ('refs, cache:hit'), read up to the ' | ' "
        "separator; line 6 is a gRPC record with two more fields (plaso reads it with a second format)",
        {6: "line does not match log format"},
    ),
    # ---- W3C / IIS
    Spec("plaso/iis10.log", {"format": "w3c"}, 1, 0),
    Spec("plaso/iis10_cookies.log", {"format": "w3c"}, 3, 0),
    Spec("plaso/iis10_edge_cases.log", {"format": "w3c"}, 15, 0),
    Spec("plaso/iis6.log", {"format": "w3c"}, 12, 0),
    Spec("plaso/iis7_owa.log", {"format": "w3c"}, 3, 0),
    Spec("plaso/iis7_sqli.log", {"format": "w3c"}, 2, 0),
    Spec("plaso/iis_without_date.log", {"format": "w3c"}, 11, 0),
    Spec("lars/test_iis.INTERNET_EXAMPLE.log", {"format": "w3c"}, 1, 0),
    Spec("lars/test_iis.INTRANET_EXAMPLE.log", {"format": "w3c"}, 1, 0),
    Spec("lars/test_iis.MISSING_VERSION.log", {"format": "w3c"}, 1, 0),
    Spec("lars/test_iis.REPEAT_VERSION.log", {"format": "w3c"}, 1, 0),
    Spec("lars/test_iis.REPEAT_FIELDS.log", {"format": "w3c"}, 1, 0),
    Spec(
        "lars/test_iis.BAD_VERSION.log",
        {"format": "w3c"},
        1,
        1,
        "#Version: 2.0 is refused; the record after it is read with its #Fields",
        {2: "unsupported W3C log version '2.0'"},
    ),
    Spec(
        "lars/test_iis.INVALID_DIRECTIVE.log",
        {"format": "w3c"},
        0,
        2,
        "#Foo is no W3C directive; the record has no #Fields to name its fields",
        {3: "unknown W3C directive #Foo", 5: "record before any #Fields"},
    ),
    Spec(
        "lars/test_iis.MISSING_FIELDS.log",
        {"format": "w3c"},
        0,
        1,
        "no #Fields directive",
        {4: "record before any #Fields"},
    ),
    Spec(
        "lars/test_iis.DUPLICATE_FIELD_NAMES.log",
        {"format": "w3c"},
        0,
        2,
        "c-ip is named twice: which one is the client cannot be told",
        {4: "#Fields directive names field 'c-ip' twice", 5: "no usable #Fields directive"},
    ),
    Spec(
        "lars/test_iis.BAD_DATA_EXAMPLE_01.log",
        {"format": "w3c"},
        0,
        1,
        "300 is no IPv4 octet",
        {4: "c-ip is not an IP address"},
    ),
    Spec(
        "lars/test_iis.BAD_DATA_EXAMPLE_02.log",
        {"format": "w3c"},
        0,
        1,
        "IIS writes an address in c-ip, never a name",
        {4: "c-ip is not an IP address"},
    ),
    # ---- syslog
    Spec(
        "plaso/syslog",
        _syslog(2015),
        16,
        2,
        "plaso: 16 events, 1 warning (the MMM month); the tab-indented continuation line is quarantined too",
        {8: "unparseable timestamp 'MMM 22 07:54:32'", 14: "continuation line of the record at line 13"},
    ),
    Spec(
        "plaso/syslog.gz",
        _syslog(2015),
        12,
        3,
        "an older revision of plaso's syslog test file (15 lines), compressed",
        {7: "unparseable timestamp", 11: "continuation line", 14: "continuation line"},
    ),
    Spec("plaso/syslog.bz2", _syslog(2015), 12, 3, "same content as syslog.gz"),
    Spec("plaso/syslog.xz", _syslog(2015), 12, 3, "same content as syslog.gz"),
    Spec("plaso/syslog_chromeos", _syslog(2015), 8, 1, "a continuation line", {9: "continuation line"}),
    Spec("plaso/syslog_cron.log", _syslog(2015), 9, 0),
    Spec("plaso/syslog_rsyslog", _syslog(2015), 5, 0),
    Spec(
        "plaso/syslog_rsyslog_ForwardFormat",
        _syslog(2015),
        0,
        2,
        "records glued together without newlines (rsyslog ForwardFormat written to a file): quarantined "
        "whole rather than split by guesswork",
        {1: "2 syslog records concatenated on one line"},
    ),
    Spec(
        "plaso/syslog_rsyslog_TraditionalForwardFormat",
        _syslog(2015),
        0,
        2,
        "as ForwardFormat",
        {1: "2 syslog records concatenated on one line"},
    ),
    Spec(
        "plaso/syslog_rsyslog_SysklogdFileFormat",
        _syslog(2015),
        9,
        1,
        "plaso: 9; a continuation line",
        {3: "continuation line"},
    ),
    Spec(
        "plaso/syslog_rsyslog_SyslogProtocol23Format",
        _syslog(2015),
        9,
        1,
        "plaso: 9; a continuation line",
        {3: "continuation line"},
    ),
    Spec(
        "plaso/syslog_rsyslog_traditional",
        _syslog(2015),
        8,
        3,
        "plaso: 8; three continuation lines",
        {6: "continuation line", 8: "continuation line", 11: "continuation line"},
    ),
    Spec("plaso/syslog_ssh.log", _syslog(2015), 9, 0),
    Spec("plaso/syslog_osx", _syslog(2015), 2, 0),
    Spec("elastic-examples/auth.log", _syslog(2015), 7121, 0),
    Spec("elastic-beats/system-auth/test.log", _syslog(2016), 10, 0),
    Spec("elastic-beats/system-auth/timestamp.log", _syslog(2016), 2, 0),
    Spec("elastic-beats/system-syslog/tz-offset.log", _syslog(2016, "Europe/Moscow"), 3, 0),
    Spec(
        "elastic-beats/system-syslog/iso8601_timestamp_multiline_syslog.log",
        _syslog(2018),
        1,
        2,
        "a message continued on two tab-indented lines",
        {2: "continuation line of the record at line 1", 3: "continuation line of the record at line 1"},
    ),
    Spec(
        "elastic-beats/system-syslog/darwin-syslog-sample.log",
        _syslog(2017),
        3,
        18,
        "a macOS record whose message is an 18-line object dump (tab-indented continuation lines)",
        {2: "continuation line of the record at line 1"},
    ),
    # ---- JSON / CSV audit exports (mappings/)
    Spec("otrf-security-datasets/AADAuditEvents.json", {"mapping": "azure_ad_audit.toml"}, 4, 0),
    Spec("otrf-security-datasets/AWS_S3_HoneyBucketLogs.csv", {"mapping": "s3_honeybucket.toml"}, 301, 0),
    Spec(
        "otrf-security-datasets/syslog_auoms_auditd_log4shell_cve2021_44228_jndi_reference_2022-05-11181020.json",
        {"mapping": "sentinel_syslog.toml"},
        50,
        0,
    ),
    Spec("plaso/azure_activity_log.jsonl", {"mapping": "azure_activity.toml"}, 4, 0),
    Spec("plaso/gcp_logging.jsonl", {"mapping": "gcp_audit.toml"}, 11, 0),
    Spec("plaso/microsoft_audit_log.jsonl", {"mapping": "m365_audit.toml"}, 4, 0),
    Spec("plaso/azure_application_gateway_access.json", {"mapping": "azure_app_gateway.toml"}, 2, 0),
    Spec("plaso/atlassian-bitbucket-audit.log", {"mapping": "bitbucket_audit.toml"}, 5, 0),
    Spec("plaso/container-json.log", {"mapping": "docker_json.toml"}, 10, 0),
    Spec("falco-k8s-audit/exec_pod.json", {"mapping": "k8s_audit.toml"}, 1, 0),
    Spec("falco-k8s-audit/anonymous_creates_namespace_foo.json", {"mapping": "k8s_audit.toml"}, 1, 0),
    Spec("falco-k8s-audit/create_configmap_sensitive_values.json", {"mapping": "k8s_audit.toml"}, 6, 0),
    Spec(
        "falco-k8s-audit/fal_01_003.json",
        {"mapping": "k8s_audit.toml"},
        0,
        1,
        'falco\'s malformed event {"kind": 0}: no time',
        {1: "missing timestamp"},
    ),
    # ---- CloudTrail
    Spec(
        "aws-cloudtrail-processing-library/SerializerTestFileBadJsonFormat.json",
        {"format": "cloudtrail"},
        0,
        1,
        "a Records envelope with a missing brace: the document is one quarantined record",
        {1: "invalid JSON document"},
    ),
    Spec(
        "aws-cloudtrail-processing-library/SerializerAllFieldsNull.json",
        {"format": "cloudtrail"},
        1,
        1,
        "the second record has every field null, its eventTime too",
        {3: "missing timestamp"},
    ),
    Spec(
        "aws-cloudtrail-processing-library/SerializerVariousUserIdentityTestFile.json", {"format": "cloudtrail"}, 1, 0
    ),
    Spec("otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json", {"format": "cloudtrail"}, 103, 0),
    Spec("plaso/aws_cloudtrail.jsonl", {"mapping": "cloudtrail_lookup_events.toml"}, 6, 0),
]

EXCLUDED: dict[str, str] = {
    "plaso/syslog.zip": "a zip of two files (syslog and a binary wtmp): refused as a whole, see the test below",
    "plaso/plaso_parser_expectations.json": "transcribed test expectations, not a log",
    "lars/lars_field_decoding_cases.json": "transcribed test cases, not a log",
    "vrl/vrl_parser_cases.json": "transcribed test cases, not a log",
    "vrl/vrl_skipped_cases.json": "list of untranscribable test cases, not a log",
    "logstash-patterns-core/grok_spec_inputs.json": "single lines of many formats for grok patterns, not one log",
    "elastic-beats/nginx-access/test.log-expected.cases.json": "filebeat's expected output, not a log",
    "plaso/audit_enriched.log": "Linux auditd log: not an access log, syslog or JSON/CSV export (no auditd parser)",
    "plaso/selinux.log": "Linux auditd (SELinux) log: no auditd parser",
    "plaso/cri.log": "Kubernetes CRI container stdout/stderr log: no parser for it",
    "plaso/postgresql.log": "PostgreSQL server log: no parser for it",
    "plaso/dpkg.log": "Debian package manager log: no parser for it",
    "plaso/snort3_alert_fast.log": "Snort IDS alert log: no parser for it",
    "plaso/suricata_alert_fast.log": "Suricata IDS alert log: no parser for it",
}


def _params() -> list[Any]:
    def marks(spec: Spec) -> list[Any]:
        return [pytest.mark.xfail(strict=True, raises=ForensicsError, reason=spec.xfail)] if spec.xfail else []

    return [pytest.param(s, id=s.id, marks=marks(s)) for s in SPECS]


def _options(spec: Spec) -> IngestOptions:
    opts = dict(spec.options)
    if "mapping" in opts:
        opts["mapping"] = MAPPINGS / opts["mapping"]
    return IngestOptions(source="corpus", **opts)


def _stored(directory: Path, columns: list[str]) -> pl.DataFrame:
    """The Parquet rows the case stored (read with polars: opening the DuckDB catalog per file doubled the
    sweep's run time)."""
    files = sorted(directory.rglob("*.parquet"))
    return pl.concat([pl.read_parquet(f, columns=columns) for f in files]) if files else pl.DataFrame()


def _quarantine_reasons(case: Case) -> dict[int, str]:
    rows = _stored(case.quarantine_dir, ["line_no", "reason"])
    return {int(n): str(r) for n, r in rows.iter_rows()} if rows.height else {}


def _assert_invariant(report: FileReport, entry: dict[str, Any]) -> None:
    for source in (entry, report.__dict__):
        if report.format in DOCUMENT_FORMATS:
            assert source["records"] == source["events"] + source["quarantined"], source
        else:
            assert source["lines"] == source["events"] + source["quarantined"] + source["blank"] + source["structural"]
    assert (entry["events"], entry["quarantined"], entry["lines"]) == (report.events, report.quarantined, report.lines)


@pytest.fixture(autouse=True)
def _w3c_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "w3c", ("forensics.formats.w3c", "W3C"))


@pytest.mark.parametrize("spec", _params())
def test_corpus_file(spec: Spec, tmp_path: Path) -> None:
    case = init_case(tmp_path / "case")
    report = ingest_paths(case, [DATA / spec.path], _options(spec))
    file_report = report.files[0]
    entry = case.manifest()["inputs"][0]
    _assert_invariant(file_report, entry)
    assert (file_report.events, file_report.quarantined) == (spec.events, spec.quarantined), spec.why
    if spec.quarantined:
        assert spec.why, "a spec with quarantined lines says why"
    got = _quarantine_reasons(case)
    assert len(got) == spec.quarantined
    assert all(got.values())  # every quarantined line carries a reason
    for line_no, prefix in spec.reasons.items():
        assert got[line_no].startswith(prefix), (line_no, got[line_no])
    events = _stored(case.events_dir, ["ts", "line_no"])
    assert events.height == spec.events
    if events.height:
        assert events["ts"].null_count() == 0 and events["line_no"].n_unique() == spec.events


def test_every_copied_corpus_file_is_covered() -> None:
    covered = {s.path for s in SPECS}
    # new-platform: our own worked example of docs/new-platform.md, run end to end by tests/test_new_platform.py;
    # spark: our own canonical events for tests/test_spark_duplicates.py (not a log)
    ours = ("golden", "regressions", "new-platform", "spark")
    corpora = [d for d in DATA.iterdir() if d.is_dir() and d.name not in ours]
    files = {str(p.relative_to(DATA)) for d in corpora for p in d.rglob("*") if p.is_file()}
    assert files, "no corpus copies found"
    missing = files - covered - set(EXCLUDED)
    assert not missing, f"corpus files with neither a spec nor an exclusion reason: {sorted(missing)}"
    assert not (covered & set(EXCLUDED))


def test_zip_of_several_files_is_refused(tmp_path: Path) -> None:
    """The archive's hash is not the hash of any one log, and one member is a binary wtmp: the user is
    told to extract it. Nothing reaches the case."""
    case = init_case(tmp_path / "case")
    with pytest.raises(UsageError, match="zip archive holds 2 files; extract it"):
        ingest_paths(case, [DATA / "plaso/syslog.zip"], IngestOptions(**_syslog(2015)))
    assert case.manifest().get("inputs", []) == []


# ------------------------------------------------------------------ bugs found by the sweep (parsers not owned here)


def test_small_yearless_syslog_without_final_newline(tmp_path: Path) -> None:
    """Regression: the unterminated last line used to arrive as a batch of its own, after the
    batch the year inference had seen, and the file was refused."""
    path = tmp_path / "osx.log"
    path.write_bytes(b"Mar 11 19:26:39 host kernel[0]: a\nMar 11 19:26:45 host app[1]: b")
    case = init_case(tmp_path / "case")
    report = ingest_paths(case, [path], IngestOptions(**_syslog(2015)))
    assert report.files[0].events == 2


def test_unquoted_field_followed_by_a_multi_character_literal(tmp_path: Path) -> None:
    """Bitbucket writes 'refs, cache:hit | 101 |': the field ends at ' | ', not at the first blank."""
    path = tmp_path / "bb.log"
    path.write_bytes(b"1.2.3.4 | refs, cache:hit | [01/Jan/2020:00:00:00 +0000]\n")
    case = init_case(tmp_path / "case")
    report = ingest_paths(case, [path], IngestOptions(format="apache", log_format="%h | %{labels}n | %t"))
    assert report.files[0].events == 1
    rows = case.connect().sql("SELECT attrs FROM events").fetchall()
    assert [json.loads(r[0])["note_labels"] for r in rows] == ["refs, cache:hit"]
