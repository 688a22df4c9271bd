"""Base for commands that read a user's file: a file that cannot be read is a one-line error
(`CommandError`), never a traceback."""

import csv

from django.core.management.base import BaseCommand, CommandError


class FileCommand(BaseCommand):
    def execute(self, *args, **options):
        file = options.get("file", "the file")
        try:
            return super().execute(*args, **options)
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{file}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
            ) from exc
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from exc
        except csv.Error as exc:
            raise CommandError(f"{file}: not readable as CSV: {exc}") from exc
        except ValueError as exc:
            if "NUL" not in str(exc):
                raise
            raise CommandError(
                f"{file}: contains a NUL character (is it UTF-16? use UTF-8)"
            ) from exc
