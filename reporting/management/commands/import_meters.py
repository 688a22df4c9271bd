"""`manage.py import_meters FILE`: create or update measurement points from meters.csv."""

from django.core.management.base import CommandError

from circulus import bounds
from circulus.commands import FileCommand
from reporting.ingest import import_meters


class Command(FileCommand):
    help = "Import measurement points from a CSV (site,meter,quantity,unit,register,multiplier)."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        with bounds.text_stream(open(file, "rb")) as handle:  # noqa: SIM115 - closed by with
            report = import_meters(handle)
        if not report.accepted:
            for error in report.errors.shown:
                self.stderr.write(f"line {error['line']}, {error['field']}: {error['reason']}")
            raise CommandError(f"{file}: {report.summary()}")
        self.stdout.write(self.style.SUCCESS(f"{file}: {report.summary()}"))
