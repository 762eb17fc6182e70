"""The layer bundlers (fast parts): what the domain layer ships."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.bundling import PackageLayerBundler, copy_package
from infra.domain_layer import LOCAL_ONLY_SUBPACKAGES
from infra.paths import DOMAIN_PACKAGE_DIR

pytestmark = pytest.mark.infra


def write(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def shipped(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_domain_layer_ships_the_package_under_python(tmp_path: Path) -> None:
    assert PackageLayerBundler(DOMAIN_PACKAGE_DIR, LOCAL_ONLY_SUBPACKAGES).try_bundle(str(tmp_path), image=None)
    files = shipped(tmp_path)
    assert "python/switchyard/constants.py" in files
    assert not [f for f in files if f.startswith(("python/switchyard/cli/", "python/switchyard/devstack/"))]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_only_top_level_local_subpackages_are_left_out(tmp_path: Path) -> None:
    source = tmp_path / "src" / "switchyard"
    for name in (
        "__init__.py",
        "cli/main.py",
        "devstack/stack.py",
        "ingest/cli/keep.py",
        "ingest/__pycache__/x.pyc",
        "config/store.py",
    ):
        write(source / name)
    copy_package(source, tmp_path / "out" / "switchyard", exclude=("cli", "devstack"))
    assert shipped(tmp_path / "out") == {
        "switchyard/__init__.py",
        "switchyard/ingest/cli/keep.py",
        "switchyard/config/store.py",
    }
