"""Import measured reuse runs from a CSV file: all rows or none."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from circulus import bounds
from circulus.commands import active_user
from registry import measurements


class Command(BaseCommand):
    help = (
        "Import measured decode runs (columns: "
        + ", ".join(measurements.IMPORT_COLUMNS)
        + "); every problem is reported by row and column and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", required=True, help="who records them (site scope applies)")

    def handle(self, *args, **opts):
        user = active_user(opts["user"])
        try:
            text = bounds.decode(opts["file"].read_bytes())
        except OSError as exc:
            raise CommandError(f"{opts['file']}: cannot be read: {exc.strerror or exc}") from exc
        except bounds.Refused as exc:  # the encodings every import reads (circulus.bounds)
            raise CommandError(f"{opts['file']}, line {exc.line}: {exc.reason}") from exc
        try:
            done = measurements.import_csv(text, user)
        except ValidationError as exc:
            raise CommandError(
                f"Nothing imported ({len(exc.messages)} problem(s)):\n" + "\n".join(exc.messages)
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"{len(done)} measurement(s) imported."))
