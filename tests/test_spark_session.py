"""A missing pyspark or Java runtime is one clear error saying what to install (no JVM needed here)."""

from __future__ import annotations

import sys

import pytest

from forensics.engines import spark_session
from forensics.errors import ForensicsError


@pytest.fixture
def no_session(monkeypatch: pytest.MonkeyPatch) -> None:
    # a session another test started must not answer for the missing runtime
    monkeypatch.setattr(spark_session, "_SESSION", {})


def test_missing_pyspark_says_which_extra(monkeypatch: pytest.MonkeyPatch, no_session: None) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    with pytest.raises(ForensicsError, match=r"pip install 'forensics\[spark\]'"):
        spark_session.get_spark()


def test_missing_java_says_which_package(monkeypatch: pytest.MonkeyPatch, tmp_path, no_session: None) -> None:
    pytest.importorskip("pyspark")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(ForensicsError, match="apt install default-jre-headless"):
        spark_session.get_spark()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ForensicsError, match="no Java runtime"):
        spark_session.get_spark()


def test_master_and_table_need_the_spark_engine(tmp_path) -> None:
    from click.testing import CliRunner

    from forensics.case import init_case
    from forensics.cli import main

    case = init_case(tmp_path / "case")
    result = CliRunner().invoke(main, ["check", str(case.root), "--master", "local[2]"])
    assert result.exit_code == 2 and "--master and --table need --engine spark" in result.output
    result = CliRunner().invoke(main, ["check", str(case.root), "--engine", "spark", "--table", "events"])
    assert result.exit_code == 2 and "--table takes view=DB.TABLE" in result.output
