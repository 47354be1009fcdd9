"""Personal-information masking: context rules, keyed pseudonyms, the redaction log, and the no-leak guarantee."""

from __future__ import annotations

import hashlib
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.errors import ForensicsError
from forensics.masking import (
    KEY_FILE,
    Masker,
    known_people,
    load_or_create_key,
    mask_address,
    mask_name,
    mask_phone,
    pseudonym,
)

KEY = bytes(range(32))
mobiles = st.from_regex(r"\A1[3-9][0-9]{9}\Z", fullmatch=True)
cjk_names = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=2, max_size=4)


# ---------------------------------------------------------------- phones


@given(mobiles)
@settings(max_examples=150, deadline=None)
def test_ui_phone_keeps_first3_last4(phone: str) -> None:
    masked = mask_phone(phone, "ui")
    assert masked == phone[:3] + "****" + phone[-4:]
    assert phone not in masked


@given(mobiles)
@settings(max_examples=150, deadline=None)
def test_waybill_phone_hides_at_least_six_digits(phone: str) -> None:
    masked = mask_phone(phone, "waybill")
    assert masked.count("*") >= 6
    assert len(masked) == len(phone)
    assert masked[:3] == phone[:3]
    assert phone not in masked


def test_phone_with_country_code_and_separators() -> None:
    assert mask_phone("+86 138-0013-1234", "ui") == "138****1234"
    assert mask_phone("+86 138-0013-1234", "waybill") == "138******34"


# ---------------------------------------------------------------- names and addresses


@given(cjk_names)
@settings(max_examples=150, deadline=None)
def test_names_never_survive(name: str) -> None:
    ui = mask_name(name, "ui")
    waybill = mask_name(name, "waybill")
    assert ui[0] == name[0] and set(ui[1:]) == {"*"} and len(ui) == len(name)
    # GB/T 41833 waybill style: exactly one character hidden
    assert waybill.count("*") == 1 and len(waybill) == len(name)
    assert [c for c in waybill if c != "*"] == [c for i, c in enumerate(name) if i != 1]


def test_address_styles() -> None:
    address = "浙江省杭州市西湖区文三路90号3幢2单元502室"
    assert mask_address(address, "ui") == "浙江省杭州市西湖区****"
    waybill = mask_address(address, "waybill")
    assert "502" not in waybill and waybill.endswith("***室") and waybill.startswith("浙江省杭州市西湖区文三路90号")
    assert "1201" not in mask_address("上海市浦东新区某路1弄2号1201", "waybill")
    assert "3-2-" in mask_address("北京市朝阳区某小区3-2-1501", "waybill")
    assert "1501" not in mask_address("北京市朝阳区某小区3-2-1501", "waybill")


# ---------------------------------------------------------------- pseudonyms and the key


def test_pseudonym_is_keyed_and_stable() -> None:
    a = pseudonym(KEY, "acct", "S100233")
    assert a == pseudonym(KEY, "acct", "S100233")
    assert re.fullmatch(r"acct-[0-9a-f]{10}", a)
    assert a != pseudonym(KEY, "acct", "S100234")
    assert a != pseudonym(bytes(32), "acct", "S100233")
    assert pseudonym(KEY, "ip", "S100233") != "ip-" + a[5:]


def test_key_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    first = load_or_create_key(tmp_path)
    assert len(first) == 32
    assert load_or_create_key(tmp_path) == first
    mode = stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode)
    assert mode & 0o077 == 0


def test_corrupt_key_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("not hex\n", encoding="ascii")
    with pytest.raises(ForensicsError, match=r"\.pseudonym_key:1"):
        load_or_create_key(tmp_path)


# ---------------------------------------------------------------- the masker


def test_cells_by_column_context_and_consistent_pseudonyms() -> None:
    m = Masker(KEY)
    assert m.cell("t/1/receiver_phone", "receiver_phone", "13800131234") == "138****1234"
    assert m.cell("t/1/receiver_phone", "receiver_phone", "13800131234", "waybill") == "138******34"
    ip1 = m.cell("t/1/ip", "ip", "198.51.100.7")
    ip2 = m.cell("u/9/client_ip", "client_ip", "198.51.100.7")
    assert ip1 == ip2 and ip1.startswith("ip-")
    # the same address inside free text gets the same pseudonym, so tables still join
    assert ip1 in m.text("attrs", '{"remote": "198.51.100.7"}')
    assert m.cell("t/1/fields", "fields", ["receiver_name"]) == ["receiver_name"]
    assert all(r.original is None for r in m.log)
    assert {r.rule for r in m.log} == {"ui-phone", "waybill-phone", "hmac-sha256"}


def test_version_strings_and_hashes_are_not_taken_for_pii() -> None:
    m = Masker(KEY)
    ua = "Mozilla/5.0 Chrome/120.0.6099.109 Safari/537.36 build 1.2.3.4"
    assert m.text("ua", "Chrome/1.2.3.4") == "Chrome/1.2.3.4"
    assert "Chrome/120.0.6099.109" in m.text("ua", ua)


@given(st.binary(min_size=1, max_size=64))
@settings(max_examples=150, deadline=None)
def test_hex_digests_pass_untouched(data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    assert Masker(KEY).text("h", digest) == digest


@given(st.text(max_size=80), mobiles, cjk_names, st.text(max_size=80))
@settings(max_examples=200, deadline=None)
def test_known_person_never_survives_free_text(prefix: str, phone: str, name: str, suffix: str) -> None:
    people = known_people([{"role": "plaintiff", "name": name, "phone": phone}])
    spaced = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    m = Masker(KEY, people)
    out = m.text("x", f"{prefix}{name} tel:{phone} / {spaced}{suffix}")
    assert name not in out
    assert phone not in re.sub(r"[\s-]", "", out)


@given(
    st.recursive(
        st.text(max_size=20) | st.integers() | st.none(),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=5), c),
    )
)
@settings(max_examples=150, deadline=None)
def test_walk_never_crashes_and_keeps_shape(value: object) -> None:
    out = Masker(KEY).walk("w", value)
    assert type(out) is type(value)


def test_sealed_masker_keeps_originals_and_logs_them() -> None:
    people = known_people([{"role": "plaintiff", "name": "测试用户甲", "phone": "13800131234"}])
    m = Masker(KEY, people, enabled=False)
    text = "收件人测试用户甲 13800131234"
    assert m.text("x", text) == text
    originals = {r.original for r in m.log}
    assert {"测试用户甲", "13800131234"} <= originals
    masked = Masker(KEY, people)
    out = masked.text("x", text)
    assert "测试用户甲" not in out and "13800131234" not in out
    assert masked.summary() == [
        {"section": "x", "kind": "name", "rule": "ui-name", "count": 1},
        {"section": "x", "kind": "phone", "rule": "ui-phone", "count": 1},
    ]


def test_organisations_keep_their_names() -> None:
    people = known_people(
        [
            {"role": "plaintiff", "name": "薛某某"},
            {"role": "defendant", "name": "某网络有限公司", "type": "organization"},
            {"role": "defendant", "name": "某平台公司"},
            {"role": "third_party", "name": "快递员乙", "phone": "13900139000"},
        ]
    )
    assert [p.name for p in people] == ["薛某某", "快递员乙"]
