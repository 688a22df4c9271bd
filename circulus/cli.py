"""The `circulus` command: `circulus <command>` is `manage.py <command>`, runnable from any shell.

`circulus celery <args>` runs Celery against this project (`celery -A circulus <args>`), so a
worker, beat or `inspect ping` need neither an activated virtual environment nor the app name.
Configuration problems (say, no SECRET_KEY with DEBUG off) end in one line, not a traceback.
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

# Celery subcommands that consume a broker; without one, tasks run eagerly in the web process and
# such a process would wait on an in-memory queue nobody else can reach.
BROKER_COMMANDS = {"worker", "beat"}


def _settings_or_exit(prog: str):
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load
    except ImproperlyConfigured as exc:
        raise SystemExit(f"{prog}: {exc}") from None
    return settings


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circulus.settings")
    prog = os.path.basename(argv[0]) if argv else "circulus"
    settings = _settings_or_exit(prog)
    if len(argv) > 1 and argv[1] == "celery":
        celery(prog, argv[2:], settings)
        return
    from django.core.management import execute_from_command_line
    from django.db import DatabaseError

    try:
        execute_from_command_line(argv)
    except DatabaseError as exc:
        if not _unmigrated(exc):
            raise
        raise SystemExit(
            f"{prog}: the database has no tables yet ({exc}): run `make demo`, or "
            f"`{prog} migrate` for an empty one."
        ) from None


def _unmigrated(exc: Exception) -> bool:
    text = str(exc)
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def celery(prog: str, args: list[str], settings) -> None:
    if args and args[0] in BROKER_COMMANDS and settings.CELERY_TASK_ALWAYS_EAGER:
        raise SystemExit(
            f"{prog}: celery {args[0]} needs a broker: set CELERY_BROKER_URL "
            "(e.g. redis://127.0.0.1:6379/0). Without one, tasks run inside the web process "
            "and no worker is needed."
        )
    from celery.bin.celery import main as celery_main

    sys.argv = ["celery", "-A", "circulus", *args]
    raise SystemExit(celery_main())
