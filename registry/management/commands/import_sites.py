"""`manage.py import_sites FILE [--dry-run]`: sites (code,name,country,time_zone) from CSV/XLSX."""

from django.core.management.base import CommandError

from circulus.commands import FileCommand
from registry.importing import import_sites


class Command(FileCommand):
    help = (
        "Create or update sites by code from a CSV or XLSX file with the columns "
        "code,name,country,time_zone. On any error nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .csv or .xlsx file with a header row")
        parser.add_argument("--dry-run", action="store_true", help="validate only, write nothing")

    def handle(self, *args, file, dry_run, **options):
        try:
            report = import_sites(file, dry_run=dry_run)
        except FileNotFoundError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        if report.refused:  # the file as a whole: one line
            raise CommandError(f"{file}: {report.summary()}")
        for error in report.errors:
            self.stderr.write(str(error))
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(report.summary()))
