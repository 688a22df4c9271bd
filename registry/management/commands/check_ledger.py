"""`check_ledger`: replay every asset's ledger and list each broken chain-of-custody rule.

Reads only; safe against production. One line per finding (asset tag, rule, reason); exits 1
when there is any, 0 when there is none, so a scheduler or CI can alert on it.
"""

from django.core.management.base import BaseCommand, CommandError

from registry import invariants
from registry.models import Asset


class Command(BaseCommand):
    help = (
        "Replay every asset's ledger and list the units whose stored state differs from it or "
        "that break a custody rule (docs/operations.md). Exits 1 on any finding."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "asset_tags", nargs="*", help="check only these assets (default: the whole fleet)"
        )

    def handle(self, *args, asset_tags, **options):
        assets = None
        if asset_tags:
            assets = Asset.objects.filter(asset_tag__in=asset_tags)
            missing = sorted(set(asset_tags) - set(assets.values_list("asset_tag", flat=True)))
            if missing:
                raise CommandError(f"no asset tagged {', '.join(missing)}")
        findings = invariants.check(assets)
        for finding in findings:
            self.stdout.write(str(finding))
        checked = assets.count() if assets is not None else Asset.objects.count()
        summary = f"{checked} asset(s) checked, {len(findings)} finding(s)"
        if findings:
            self.stderr.write(summary)
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(summary))
