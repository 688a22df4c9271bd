from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hardware.services import CATALOGUE_DIR, CatalogueError, load_catalogue


class Command(BaseCommand):
    help = "Load the reference hardware catalogue (idempotent; never overwrites operator edits)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir",
            type=Path,
            default=CATALOGUE_DIR,
            help="Folder holding models.csv and sources.csv (default: the shipped catalogue).",
        )

    def handle(self, *args, **options):
        try:
            report = load_catalogue(options["dir"])
        except CatalogueError as exc:
            raise CommandError(
                f"Catalogue not loaded, nothing was written ({len(exc.problems)} problem(s)):\n"
                + "\n".join(exc.problems)
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"Catalogue: {report}"))
        for figure in report.kept_operator_edits:
            self.stdout.write(f"  kept operator edit: {figure}")
