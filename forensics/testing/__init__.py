"""Public hypothesis strategies for every supported log format, for users' own test suites.

    from hypothesis import given
    from forensics.testing import access_log_lines, hostile_lines

    @given(access_log_lines('$remote_addr [$time_local] "$request" $status', "nginx"))
    def test_my_pipeline(line): ...

Well-formed lines come as GeneratedLine(raw bytes, expected canonical values); hostile lines as
bytes. See docs/fuzzing.md, and forensics.fuzz for the properties `forensics fuzz` checks.
"""

from forensics.testing.accesslog import (
    AccessLogShape,
    access_log_lines,
    apache_log_formats,
    log_formats,
    nginx_log_formats,
    shape,
    tokenize,
)
from forensics.testing.common import (
    GeneratedLine,
    chinese_text,
    dst_edge_timestamps,
    free_text,
    ip_addresses,
    ipv4_addresses,
    ipv6_addresses,
    leap_day_timestamps,
    tokens,
    utc_offsets,
    utc_timestamps,
    xff_chains,
)
from forensics.testing.errorlog import apache_error_lines, nginx_error_lines
from forensics.testing.hostile import (
    bad_date_lines,
    control_character_lines,
    gb18030_lines,
    hostile_lines,
    huge_lines,
    invalid_utf8_lines,
    mutated,
    mutations,
    nul_lines,
    quote_lines,
    random_bytes_lines,
)
from forensics.testing.structured import (
    GeneratedDocument,
    GeneratedRecord,
    csv_lines,
    default_mapping_toml,
    json_documents,
    jsonl_lines,
    mapping_records,
    plan_records,
)
from forensics.testing.syslog import rfc3164_lines, rfc5424_lines, syslog_lines
from forensics.testing.w3c import w3c_field_lists, w3c_header, w3c_records

__all__ = [
    "AccessLogShape",
    "GeneratedDocument",
    "GeneratedLine",
    "GeneratedRecord",
    "access_log_lines",
    "apache_error_lines",
    "apache_log_formats",
    "bad_date_lines",
    "chinese_text",
    "control_character_lines",
    "csv_lines",
    "default_mapping_toml",
    "dst_edge_timestamps",
    "free_text",
    "gb18030_lines",
    "hostile_lines",
    "huge_lines",
    "invalid_utf8_lines",
    "ip_addresses",
    "ipv4_addresses",
    "ipv6_addresses",
    "json_documents",
    "jsonl_lines",
    "leap_day_timestamps",
    "log_formats",
    "mapping_records",
    "mutated",
    "mutations",
    "nginx_error_lines",
    "nginx_log_formats",
    "nul_lines",
    "plan_records",
    "quote_lines",
    "random_bytes_lines",
    "rfc3164_lines",
    "rfc5424_lines",
    "shape",
    "syslog_lines",
    "tokenize",
    "tokens",
    "utc_offsets",
    "utc_timestamps",
    "w3c_field_lists",
    "w3c_header",
    "w3c_records",
    "xff_chains",
]
