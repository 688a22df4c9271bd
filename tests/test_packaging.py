"""The image installs the package as pyproject.toml defines it (deploy/Dockerfile), so what the
wheel leaves out, production lacks: every installed app of ours, its migrations, templates,
static files and reference data must be in the wheel."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    # From a clean copy: setuptools would otherwise also pack what an earlier build listed in
    # the checkout's *.egg-info, and the test would pass on a developer's machine only.
    source = out / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".*", "*.egg-info", "build", "var", "out", "tests", "docs", "benchmarks", "__pycache__"
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(out), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def _our_apps():
    for config in apps.get_app_configs():
        path = Path(config.path)
        if ROOT in path.parents and "site-packages" not in path.parts:
            yield config, path.relative_to(ROOT)


def test_every_installed_app_of_ours_is_in_the_package(wheel_files):
    ours = list(_our_apps())
    assert {str(rel) for _, rel in ours} >= {"accounts", "hardware", "registry", "reporting"}
    missing = [c.name for c, rel in ours if f"{rel.as_posix()}/__init__.py" not in wheel_files]
    assert not missing, f"in INSTALLED_APPS but not in the package: {missing}"


def test_every_file_an_app_reads_is_in_the_package(wheel_files):
    """Templates, static files, catalogue data, migrations: everything beside the code."""
    tops = {rel.parts[0] for _, rel in _our_apps()} | {"circulus"}
    missing = []
    for top in sorted(tops):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            name = path.relative_to(ROOT).as_posix()
            if name not in wheel_files:
                missing.append(name)
    assert not missing, f"not in the package: {missing[:20]}"
