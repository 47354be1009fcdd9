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
    case_id,
    case_key,
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


# ---------------------------------------------------------------- detection, not columns (issue 12)

PHONE_FORMS = [
    "tel{p}",
    "{p}x",
    "%2B86{p}",
    "{a}.{b}.{c}",
    "({a}){b}-{c}",
    "wx{p}",
    "+86 {a} {b} {c}",
    "0086-{p}",
    "86{p}",
    "{a}\u200b{b}\u200b{c}",
    "{a} - {b} - {c}",
]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@given(mobiles, st.sampled_from(PHONE_FORMS), st.booleans(), st.text(max_size=20), st.text(max_size=20))
@settings(max_examples=300, deadline=None)
def test_phones_are_found_in_any_written_form(phone: str, form: str, wide: bool, pre: str, post: str) -> None:
    written = form.format(p=phone, a=phone[:3], b=phone[3:7], c=phone[7:])
    if wide:
        written = written.translate(FULL_WIDTH)
    m = Masker(KEY)
    out = m.text("attrs", f"{pre} {written} {post}")
    digits = re.sub(r"\D", "", out.translate({ord(w): str(i) for i, w in enumerate("０１２３４５６７８９")}))
    assert phone not in digits
    assert any(r.kind == "phone" and r.where == "attrs" for r in m.log)


def test_order_numbers_timestamps_and_digests_stay() -> None:
    m = Masker(KEY)
    text = "order O240301104512001 at 20240301104512 ts 1709273403118 sha a13812345678" + "f" * 52
    assert m.text("x", text) == text and not m.log


def test_id_cards_emails_and_ipv6_are_masked() -> None:
    m = Masker(KEY)
    out = m.text("attrs", "id 11010519491231002X mail zhang.san@example.com from 2001:db8::8a2e:370:7334 at 10:45:12")
    assert "11010519491231002X" not in out and "zhang.san" not in out and "2001:db8" not in out
    assert "10:45:12" in out
    assert {r.kind for r in m.log} == {"id_card", "email", "pseudonym:ip"}
    # the same IPv6 address written differently is the same pseudonym
    assert m.text("a", "2001:db8:0:0:0:8a2e:370:7334") in out


@pytest.mark.parametrize(
    "text",
    ["收件地址：浙江省杭州市西湖区文三路90号3幢2单元502室", "备注：请送到上海市浦东新区某某路1弄2号1201，谢谢"],
)
def test_addresses_in_free_text_are_cut(text: str) -> None:
    m = Masker(KEY)
    out = m.text("attrs", text)
    assert "502" not in out and "1201" not in out and "号" not in out
    assert [r.kind for r in m.log] == ["address"]


@given(st.lists(st.sampled_from([" ", "  ", "\u3000", "·", ""]), min_size=4, max_size=4), st.booleans())
@settings(max_examples=100, deadline=None)
def test_known_names_in_spaced_and_traditional_forms(gaps: list[str], traditional: bool) -> None:
    people = known_people([{"role": "plaintiff", "name": "测试用户甲"}])
    chars = list("测試用戶甲" if traditional else "测试用户甲")
    written = chars[0] + "".join(g + c for g, c in zip(gaps, chars[1:], strict=True))
    out = Masker(KEY, people).text("attrs", f"买家{written}下单")
    assert "用" not in out and "户" not in out and "戶" not in out


# ---------------------------------------------------------------- the key lives outside the case (issue 12)


def test_key_is_kept_outside_the_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORENSICS_KEY_DIR", str(tmp_path / "keys"))
    case = tmp_path / "case"
    case.mkdir()
    key, note = case_key(case, "abc")
    assert note is None and not list(case.iterdir())
    assert (tmp_path / "keys" / "abc.key").exists()
    assert case_key(case, "abc")[0] == key
    assert case_key(case, "other")[0] != key
    assert case_key(case, "abc", tmp_path / "given.key")[0] != key  # --key-file


def test_a_key_in_the_case_folder_is_moved_out_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORENSICS_KEY_DIR", str(tmp_path / "keys"))
    case = tmp_path / "case"
    case.mkdir()
    old = load_or_create_key(case)
    key, note = case_key(case, "abc")
    assert key == old and note and "moved" in note
    assert not (case / KEY_FILE).exists()
    assert stat.S_IMODE((tmp_path / "keys" / "abc.key").stat().st_mode) & 0o077 == 0
    assert case_key(case, "abc") == (old, None)


def test_case_id_survives_a_copy(tmp_path: Path) -> None:
    custody = [{"seq": 1, "hash": "ab" * 32}]
    assert case_id(custody, tmp_path / "a") == case_id(custody, tmp_path / "b")


# ---------------------------------------------------------------- identifiers are not phone carriers (issue 12)

hex_chars = st.text(alphabet="0123456789abcdef", min_size=0, max_size=40)
ID_CARD = "11010519491231002X"


@given(
    st.binary(max_size=64),
    st.sampled_from(["sha256", "md5", "sha1", "sha512", "sha3_256"]),
    st.text(alphabet=" ;=,_-/ghijkxyz中文", max_size=10),
)
@settings(max_examples=300, deadline=None)
def test_random_digests_are_never_changed_wherever_they_stand(data: bytes, algo: str, around: str) -> None:
    digest = hashlib.new(algo, data).hexdigest()
    for text in (digest, digest.upper(), f"{around}sha={digest}{around}", f"req_id: {digest}"):
        m = Masker(KEY)
        assert m.text("attrs", text) == text
        assert not [r for r in m.log if r.kind in {"phone", "id_card"}]


@given(mobiles, hex_chars, hex_chars)
@settings(max_examples=300, deadline=None)
def test_a_phone_shaped_run_inside_a_digest_shaped_token_is_left_alone(phone: str, head: str, tail: str) -> None:
    # a token of >= 32 hex characters is a digest / trace id: its digit runs are not phones, wherever they fall
    token = (head + phone + tail + "f" * 32)[: max(32, len(head) + len(phone) + len(tail))]
    assert len(token) >= 32
    m = Masker(KEY)
    assert m.text("attrs", f"trace {token} ok") == f"trace {token} ok"


@given(mobiles, st.sampled_from(["a", "ab", "abc", "deadbeef", "cafe", "f" * 10]), st.sampled_from(["", "d", "ee"]))
@settings(max_examples=200, deadline=None)
def test_a_phone_in_a_short_hex_looking_word_is_still_masked(phone: str, head: str, tail: str) -> None:
    out = Masker(KEY).text("attrs", f"id {head}{phone}{tail}")
    assert phone not in out


@given(st.uuids())
@settings(max_examples=200, deadline=None)
def test_uuids_are_never_changed(value: object) -> None:
    text = f"request {value} done"
    assert Masker(KEY).text("attrs", text) == text


def test_a_uuid_whose_groups_look_like_a_phone_is_kept() -> None:
    for uuid in ("01234567-a138-1234-5678-abcdefabcdef", "13812345-6781-3812-3456-7813812345ab"):
        assert Masker(KEY).text("attrs", f"req {uuid}") == f"req {uuid}"


@pytest.mark.parametrize("form", ["tel13812345678", "13912345678x", "wx13912345678", "abc13812345678def"])
def test_letters_glued_to_a_phone_do_not_hide_it(form: str) -> None:
    digits = re.sub(r"\D", "", form)
    assert digits not in Masker(KEY).text("attrs", f"备注 {form}")


def test_an_id_card_inside_a_digest_is_left_but_a_glued_one_is_masked() -> None:
    digest = "ab" + ID_CARD[:-1] + "3" + "c" * 45  # 66 hex characters holding an ID-card-shaped run
    assert Masker(KEY).text("attrs", digest) == digest
    assert ID_CARD not in Masker(KEY).text("attrs", f"id{ID_CARD}")
