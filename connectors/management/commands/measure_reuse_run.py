"""Record a measured reuse run from a Prometheus source's DCGM and engine series."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from circulus.commands import active_user
from connectors import telemetry
from connectors.clients import SourceError
from connectors.models import Source
from registry.models import Asset


def _moment(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"'{text}' is not a time (2026-12-06T10:00:00+00:00)") from exc


class Command(BaseCommand):
    help = (
        "Read a window of DCGM energy and engine token counters from a Prometheus source and "
        "record it as a measured reuse run (docs/reuse.md: what a window must contain)."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="the Prometheus source's name")
        parser.add_argument("--asset", required=True, help="tag of the accelerator or server")
        parser.add_argument("--start", required=True, type=_moment)
        parser.add_argument("--end", required=True, type=_moment)
        parser.add_argument("--gpus", required=True, help='e.g. Hostname="gpu-node-1"')
        parser.add_argument("--served", required=True, help='e.g. model_name="…"')
        parser.add_argument("--precision", required=True)
        parser.add_argument("--engine", default="vllm")
        parser.add_argument("--llm", default="", help="catalogue slug, if not recognised")
        parser.add_argument("--context-tokens", type=int)
        parser.add_argument("--user", required=True, help="who records it (site scope applies)")

    def handle(self, *args, **opts):
        user = active_user(opts["user"])
        source = Source.objects.filter(name=opts["source"]).first()
        if source is None:
            raise CommandError(f"No source named '{opts['source']}'.")
        asset = Asset.objects.select_related("site", "hardware_model").filter(
            asset_tag=opts["asset"]
        )
        if not asset.exists():
            raise CommandError(f"No asset tagged '{opts['asset']}'.")
        try:
            run = telemetry.measure(
                source,
                asset=asset.get(),
                start=opts["start"],
                end=opts["end"],
                gpus=opts["gpus"],
                served=opts["served"],
                precision=opts["precision"],
                engine=opts["engine"],
                llm=opts["llm"],
                context_tokens=opts["context_tokens"],
                actor=user,
            )
        except SourceError as exc:
            raise CommandError(f"Nothing recorded: {exc}") from exc
        except ValidationError as exc:
            problems = [f"{k}: {'; '.join(v)}" for k, v in exc.message_dict.items()]
            raise CommandError("Nothing recorded: " + " ".join(problems)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {run.pk} recorded: {run.tokens_per_s} tokens/s, {run.power_w} W on "
                f"{run.n_devices} GPU(s), concurrency {run.concurrency}, "
                f"context {run.context_tokens} tokens."
            )
        )
