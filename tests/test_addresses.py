"""ip is the connecting peer; X-Forwarded-For goes to forwarded_for; trusted proxies are explicit (issue 15.5).

Lines written for these tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forensics.addresses import basis_note, client_address, trusted_proxies
from forensics.case import Case
from forensics.errors import UsageError
from forensics.ingest import IngestOptions, ingest_paths
from forensics.testing import ip_addresses

MAIN = '66.249.83.1 - - [03/Mar/2024:10:00:00 +0800] "GET /o/1 HTTP/1.1" 200 5 "-" "ua" "103.28.132.65"\n'


def _ingest(case: Case, tmp_path: Path, text: str, **opts: object) -> None:
    path = tmp_path / "access.log"
    path.write_text(text, encoding="utf-8")
    ingest_paths(case, [path], IngestOptions(source="web", **opts))  # type: ignore[arg-type]


def test_nginx_main_keeps_the_peer_as_ip(case: Case, tmp_path: Path) -> None:
    _ingest(case, tmp_path, MAIN, format="nginx", log_format="main")
    _, rows = case.query_readonly("SELECT ip, forwarded_for FROM events")
    assert rows == [("66.249.83.1", ["103.28.132.65"])]


def test_a_chain_is_kept_hop_by_hop_and_dash_is_null(case: Case, tmp_path: Path) -> None:
    text = MAIN.replace('"103.28.132.65"', '"203.0.113.9, 10.0.0.2"') + MAIN.replace('"103.28.132.65"', '"-"')
    _ingest(case, tmp_path, text, format="nginx", log_format="main")
    _, rows = case.query_readonly("SELECT ip, forwarded_for FROM events ORDER BY line_no")
    assert rows == [("66.249.83.1", ["203.0.113.9", "10.0.0.2"]), ("66.249.83.1", None)]


def test_w3c_forwarded_for_is_not_the_ip(case: Case, tmp_path: Path) -> None:
    text = "#Version: 1.0\n#Fields: date time c-ip cs(X-Forwarded-For)\n2024-03-01 10:00:00 10.0.0.1 198.51.100.4\n"
    _ingest(case, tmp_path, text, format="w3c")
    _, rows = case.query_readonly("SELECT ip, forwarded_for FROM events")
    assert rows == [("10.0.0.1", ["198.51.100.4"])]


def test_trusted_proxies_in_case_toml_give_client_ip(case: Case, tmp_path: Path) -> None:
    text = MAIN.replace("66.249.83.1", "10.0.0.7").replace('"103.28.132.65"', '"1.2.3.4, 198.51.100.9, 10.0.0.3"')
    _ingest(case, tmp_path, text + MAIN, format="nginx", log_format="main")
    _, before = case.query_readonly("SELECT client_ip(ip, forwarded_for) FROM events ORDER BY line_no")
    assert before == [("10.0.0.7",), ("66.249.83.1",)]  # nothing trusted: the peer
    case.toml_path.write_text(case.toml_path.read_text() + '\n[addresses]\ntrusted_proxies = ["10.0.0.0/8"]\n')
    _, after = case.query_readonly("SELECT client_ip(ip, forwarded_for) FROM events ORDER BY line_no")
    assert after == [("198.51.100.9",), ("66.249.83.1",)]  # the last hop the trusted proxies did not add


def test_bad_trusted_proxies_are_refused() -> None:
    with pytest.raises(UsageError, match="not an IP address or network"):
        trusted_proxies({"addresses": {"trusted_proxies": ["proxy.example"]}})
    assert "not read as the client" in basis_note({})
    assert "10.0.0.0/8" in basis_note({"addresses": {"trusted_proxies": ["10.0.0.0/8"]}})


@given(ip_addresses(), st.lists(ip_addresses(), max_size=4))
def test_untrusted_peer_is_always_the_client(peer: str, chain: list[str]) -> None:
    nets = trusted_proxies({"addresses": {"trusted_proxies": ["192.0.2.0/24"]}})
    if not peer.startswith("192.0.2."):
        assert client_address(peer, chain, nets) == peer


@given(st.lists(ip_addresses(), min_size=1, max_size=4))
def test_a_trusted_peer_never_yields_a_header_hop_left_of_an_untrusted_one(chain: list[str]) -> None:
    nets = trusted_proxies({"addresses": {"trusted_proxies": ["192.0.2.0/24"]}})
    got = client_address("192.0.2.1", chain, nets)
    assert got == chain[-1] or got in chain  # the rightmost untrusted hop, never one further left
    untrusted = [h for h in chain if not h.startswith("192.0.2.")]
    if untrusted:
        assert got == untrusted[-1]
