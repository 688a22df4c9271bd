"""The docs run as written: every ```sh block of README.md and docs/*.md, in reading order,
against a fresh demo (embedded SQLite in a temporary directory, nothing exported).

Blocks that only illustrate (placeholders, a server, Docker) are fenced ```text and not run.
The first runnable block is README's `make demo`, which builds the fresh database the others use.
Run with `make test-docs` (its own CI step); the default test run leaves it out (marker `docs`).
"""

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^[ \t]*```(\w*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)


def doc_pages() -> list[Path]:
    """README first, then the pages in the order README lists them, then any page it forgets."""
    readme = ROOT / "README.md"
    listed = [ROOT / p for p in re.findall(r"\]\((docs/[\w-]+\.md)\)", readme.read_text())]
    pages = [readme, *dict.fromkeys(p for p in listed if p.exists())]
    return pages + sorted(set((ROOT / "docs").glob("*.md")) - set(pages))


def shell_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in doc_pages():
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group(1) in ("sh", "bash", "shell", "console"):
                line = text.count("\n", 0, match.start()) + 1
                blocks.append((f"{page.relative_to(ROOT)}:{line}", match.group(2)))
    return blocks


BLOCKS = shell_blocks()


def test_the_first_runnable_block_is_make_demo():
    assert BLOCKS, "no ```sh block found in README.md or docs/"
    where, code = BLOCKS[0]
    assert where.startswith("README.md") and code.split("#")[0].strip() == "make demo"


def test_every_runnable_block_names_the_one_command_form():
    """`python manage.py`, a bare `celery` or `circulus` fail in a newcomer's shell."""
    bare = re.compile(r"(^|[\s;&|(])(python3?\s+manage\.py|celery\s|circulus\s)")
    offenders = [where for where, code in BLOCKS if bare.search(code)]
    assert offenders == []


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_block_runs(where, code, demo_env):
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=ROOT,
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (
        f"{where} exited {done.returncode}\n--- block\n{code}\n--- stdout (end)\n"
        f"{done.stdout[-3000:]}\n--- stderr (end)\n{done.stderr[-3000:]}"
    )
