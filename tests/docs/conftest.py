import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Settings a newcomer's shell would not have: the run must work from the checkout's .env alone.
UNSET = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DJANGO_SETTINGS_MODULE",
    "VIRTUAL_ENV",
    "CIRCULUS_ENV_FILE",
)


@pytest.fixture(scope="session")
def demo_env(tmp_path_factory):
    """A shell with nothing exported and the virtual environment not on PATH; the demo's
    database and outputs in a fresh temporary directory."""
    base = tmp_path_factory.mktemp("docs-demo")
    env = {k: v for k, v in os.environ.items() if k not in UNSET and not k.startswith("PYTEST")}
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["CIRCULUS_VAR_DIR"] = str(base / "var")
    env["CIRCULUS_OUT_DIR"] = str(base / "out")
    return env
