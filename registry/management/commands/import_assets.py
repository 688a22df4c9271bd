"""`manage.py import_assets FILE [--dry-run] [--as USERNAME]`: new assets from CSV or XLSX."""

from django.core.management.base import CommandError

from circulus.commands import FileCommand, active_user
from registry.importing import import_assets


class Command(FileCommand):
    help = (
        "Import new assets (with their 'purchased' ledger rows) from a CSV or XLSX file. "
        "Every row is validated first; on any error nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .csv or .xlsx file with a header row")
        parser.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
        parser.add_argument(
            "--as", dest="username", help="record the import as this user (scoped to their sites)"
        )

    def handle(self, *args, file, dry_run, username, **options):
        actor = None
        if username:
            actor = active_user(username)
        try:
            report = import_assets(file, actor=actor, dry_run=dry_run)
        except FileNotFoundError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        if report.refused:  # the file as a whole: one line
            raise CommandError(f"{file}: {report.summary()}")
        for error in report.errors:
            self.stderr.write(str(error))
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(report.summary()))
