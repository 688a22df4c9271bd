"""`export_assets --out FILE.xlsx|.csv [--site CODE] [--state STATE ...]` for scheduled jobs."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.lifecycle import State
from reporting.exports import assets


class Command(BaseCommand):
    help = "Export the asset register (filtered like /api/assets/) to XLSX or CSV, streamed."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="FILE.xlsx or FILE.csv")
        parser.add_argument("--site", help="site code")
        parser.add_argument(
            "--state", action="append", choices=State.values, help="repeat for several states"
        )

    def handle(self, *args, out, site, state, **options):
        if not out.lower().endswith((".xlsx", ".csv")):
            raise CommandError("--out must end in .xlsx or .csv")
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        try:
            queryset = assets.filtered_assets({"site": site, "state": state})
        except ValueError as exc:
            raise CommandError(f"invalid filter: {exc}") from exc
        rows = assets.write_file(queryset, out)
        self.stdout.write(f"{rows} assets written to {out}")
