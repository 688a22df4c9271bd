"""`manage.py archive_readings --before YEAR | --restore FILE|YEAR [--dir DIR]` (PostgreSQL)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from reporting import archive


class Command(BaseCommand):
    help = (
        "Move the readings' monthly partitions older than YEAR (UTC) to verified Parquet files "
        "and drop them, or restore archived months. PostgreSQL only."
    )

    def add_arguments(self, parser):
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument(
            "--before", type=int, metavar="YEAR", help="archive every month before 1 Jan YEAR"
        )
        what.add_argument(
            "--restore", metavar="FILE|YEAR", help="re-attach an archive file, or a year's files"
        )
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help="archive directory (default: READINGS_ARCHIVE_DIR)",
        )

    def handle(self, *args, before, restore, dir, **options):
        directory = dir or Path(settings.READINGS_ARCHIVE_DIR)
        try:
            if before is not None:
                moved = archive.archive_before(before, directory)
                verb = "archived"
            else:
                moved = archive.restore(restore, directory)
                verb = "restored"
        except archive.ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"{directory}: {exc.strerror or exc}") from exc
        for item in moved:
            self.stdout.write(item.line(verb))
        total = sum(item.rows for item in moved)
        self.stdout.write(self.style.SUCCESS(f"{verb} {len(moved)} months, {total:,} readings"))
