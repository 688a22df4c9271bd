"""`manage.py ingest_readings FILE [--replace]`: ingest a readings CSV, atomically."""

from django.core.management.base import CommandError

from circulus import bounds
from circulus.commands import FileCommand
from reporting.ingest import Collided, ingest_file


class Command(FileCommand):
    help = "Ingest meter readings (meter,timestamp,value; ISO 8601 timestamps with an offset)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="overwrite conflicting stored readings (the old values are kept as revisions)",
        )

    def handle(self, *args, file, replace, **options):
        try:
            report = ingest_file(
                lambda: bounds.text_stream(open(file, "rb")),  # noqa: SIM115 - closed by ingest_file
                replace=replace,
            )
        except Collided as exc:
            raise CommandError(f"{file}: {exc}") from exc
        if not report.accepted:
            for error in report.errors.shown:
                self.stderr.write(f"line {error['line']}, {error['field']}: {error['reason']}")
            if report.errors.total > len(report.errors.shown):
                self.stderr.write(f"… and {report.errors.total - len(report.errors.shown)} more")
            raise CommandError(f"{file}: {report.summary()}")
        for c in report.conflicts.shown:
            self.stderr.write(
                f"conflict line {c['line']}: {c['meter']} at {c['timestamp']} is stored as "
                f"{c['stored']}, file says {c['new']} (kept; use --replace to overwrite)"
            )
        style = self.style.WARNING if report.conflicts.total else self.style.SUCCESS
        self.stdout.write(style(f"{file}: {report.summary()}"))
