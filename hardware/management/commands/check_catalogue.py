from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hardware.services import CATALOGUE_DIR, check_catalogue


class Command(BaseCommand):
    help = (
        "Check a catalogue folder against the rules load_catalogue enforces, writing nothing: "
        "cell formats, materials within the unit's mass, ordered ranges, plausible specs. "
        "It reads the files only; a load also checks them beside the models operators added."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir",
            type=Path,
            default=CATALOGUE_DIR,
            help="Folder holding models.csv, sources.csv and material_classes.csv.",
        )

    def handle(self, *args, **options):
        models_by_slug, sources, problems = check_catalogue(options["dir"])
        if problems:
            raise CommandError(
                f"{len(problems)} problem(s); load_catalogue would refuse this catalogue:\n"
                + "\n".join(problems)
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Catalogue OK: {len(models_by_slug)} models, {len(sources)} source rows; "
                "load_catalogue would accept it."
            )
        )
