"""The pure tests run without Django, as their docstring says: the shared conftests import
Django only inside fixtures and builders."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_indicator_tests_run_with_the_django_plugin_off():
    # The documented command, narrowed to a few vectors so it stays quick.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:django", "-p", "no:cacheprovider", "-q",
         "tests/reporting/test_indicators.py", "-k", "transcribed or T1 or T2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "error" not in done.stdout.lower()
