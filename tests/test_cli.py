"""The `circulus` command as a newcomer's shell runs it: nothing exported, settings from `.env`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("circulus")
SETTINGS = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")

pytestmark = pytest.mark.skipif(not CLI.exists(), reason="the circulus script is not installed")


def run_env(env_file: Path | str = "", **env) -> dict:
    """A shell with none of the settings exported (pytest's marker would allow a throwaway key)."""
    base = {k: v for k, v in os.environ.items() if k not in SETTINGS and not k.startswith("PYTEST")}
    return base | {"CIRCULUS_ENV_FILE": str(env_file), **env}


def run(*args, env_file: Path | str = "", cwd: Path = ROOT, **env):
    return subprocess.run(
        [str(CLI), *args],
        cwd=cwd,
        env=run_env(env_file, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_secret_key_production_settings_stop_in_one_line(tmp_path):
    done = run("check", cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SECRET_KEY is required when DEBUG is off" in lines[0]
    assert "make demo" in lines[0]


def test_the_env_file_supplies_development_settings(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# development\nDEBUG=1\nSECRET_KEY='from-the-env-file'\n")
    done = run(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.DEBUG, s.SECRET_KEY)",
        env_file=env_file,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["True", "from-the-env-file"]


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=1\nSECRET_KEY=from-the-file\n")
    done = run(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.DEBUG, s.SECRET_KEY)",
        env_file=env_file,
        cwd=tmp_path,
        DEBUG="0",
        SECRET_KEY="from-the-environment",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["False", "from-the-environment"]


@pytest.mark.parametrize("subcommand", ["worker", "beat"])
def test_a_worker_without_a_broker_is_refused_with_the_reason(tmp_path, subcommand):
    done = run("celery", subcommand, cwd=tmp_path, DEBUG="1")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert f"celery {subcommand} needs a broker: set CELERY_BROKER_URL" in done.stderr


def test_celery_runs_for_this_project(tmp_path):
    done = run("celery", "report", cwd=tmp_path, DEBUG="1")
    assert done.returncode == 0, done.stderr
    # The project's app, with its settings: no broker configured means the in-memory transport.
    assert "loader   -> celery.loaders.app.AppLoader" in done.stdout
    assert "transport:memory" in done.stdout


def test_manage_py_is_the_same_command(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        cwd=tmp_path,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "SECRET_KEY is required" in done.stderr


def test_an_unmigrated_database_is_named_not_dumped(tmp_path):
    done = run(
        "import_assets",
        str(ROOT / "docs" / "examples" / "assets.csv"),
        "--dry-run",
        cwd=tmp_path,
        DEBUG="1",
        CIRCULUS_VAR_DIR=str(tmp_path / "var"),
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "the database has no tables yet" in done.stderr and "make demo" in done.stderr


def test_help_points_to_the_doc_page_that_explains_the_option():
    """`--allow-unvalidated` is explained in docs/exports.md; README.md never mentions it."""
    from django.core.management import load_command_class

    parser = load_command_class("reporting.exports", "export_eu").create_parser(
        "circulus", "export_eu"
    )
    text = " ".join(parser.format_help().split())
    cited = "docs/exports.md"
    assert "allow-unvalidated" in (ROOT / cited).read_text(encoding="utf-8")
    assert "README" not in text and cited in text
