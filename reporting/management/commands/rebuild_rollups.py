"""`manage.py rebuild_rollups (--meter CODE … | --site CODE | --all) [--from DAY --to DAY]`:
recompute the daily rollups of readings from the readings themselves."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from registry.models import Site
from reporting import rollups
from reporting.models import MeasurementPoint


class Command(BaseCommand):
    help = (
        "Recompute the daily rollups (per meter and local day) from the readings: for meters, "
        "a site or every meter; for local days FROM..TO (both included), or every day."
    )

    def add_arguments(self, parser):
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--meter", action="append", help="meter code (repeatable)")
        scope.add_argument("--site", help="site code: all its meters")
        scope.add_argument("--all", action="store_true", help="every meter")
        parser.add_argument("--from", dest="first", help="first local day, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", help="last local day, YYYY-MM-DD")

    def handle(self, *args, meter, site, all, first, last, **options):
        meters = MeasurementPoint.objects.all()
        if meter:
            known = set(meters.filter(code__in=meter).values_list("code", flat=True))
            unknown = [code for code in meter if code not in known]
            if unknown:
                raise CommandError(f"--meter: unknown meter {unknown[0]!r}")
            meters = meters.filter(code__in=meter)
        elif site:
            if not Site.objects.filter(code=site).exists():
                raise CommandError(f"--site: unknown site {site!r}")
            meters = meters.filter(site__code=site)
        if (first is None) != (last is None):
            raise CommandError("--from and --to go together (or leave both out: every day)")
        ids = list(meters.values_list("pk", flat=True))
        if first is None:
            written = rollups.rebuild(ids)
            span = "every day"
        else:
            start, end = _day("--from", first), _day("--to", last)
            if start > end:
                raise CommandError(f"--from {first} is after --to {last}")
            if (end - start).days > 366 * 20:
                raise CommandError("--from..--to spans more than 20 years: use no dates instead")
            written = rollups.refresh(ids, start, end)
            span = f"{start}..{end}"
        self.stdout.write(f"{len(ids)} meter(s), {span}: {written} day rollup(s) written")


def _day(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option}: {text!r} is not a day (YYYY-MM-DD)") from None
