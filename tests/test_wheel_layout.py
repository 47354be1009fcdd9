"""An installed wheel puts the shipped packs in forensics/_queries (pyproject force-include), not queries/ next to
the package: everything that reads a shipped pack must find it there too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import forensics

PACKAGE_DIR = Path(forensics.__file__).resolve().parent
QUERIES = PACKAGE_DIR.parent / "queries"


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-packages as the wheel lays it out: the package with the packs inside it, no queries/ beside it."""
    if not QUERIES.is_dir():
        pytest.skip("needs a source checkout (queries/ next to forensics/)")
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(PACKAGE_DIR, site / "forensics", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(QUERIES, site / "forensics" / "_queries")
    return site


def _run(site: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(site)},
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_installed_layout_lists_and_loads_the_shipped_packs(wheel_site: Path) -> None:
    done = _run(
        wheel_site,
        "import forensics.packs as p; print(p.builtin_pack_dirs()[0]); print(p.load_pack('order-leak').path)",
    )
    assert done.returncode == 0, done.stderr
    first, pack = done.stdout.splitlines()
    assert Path(first) == wheel_site / "forensics" / "_queries"
    assert Path(pack) == wheel_site / "forensics" / "_queries" / "order-leak"


def test_installed_layout_finds_the_bundled_completeness_check(wheel_site: Path) -> None:
    """A pack whose completeness check has no '-- defects:' line gets the bundled check's figures."""
    done = _run(wheel_site, "from forensics.completeness import figures_sql; print(len(figures_sql(None)) > 0)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
