"""Print the reuse candidates for one procurement question, as an aligned table."""

import json

from django.core.management.base import BaseCommand, CommandError

from hardware import inference
from registry import reuse
from registry.api.reuse import ReuseQuerySerializer

COLUMNS = (
    ("hardware_model", "model", "<"),
    ("site", "site", "<"),
    ("server", "server", "<"),
    ("assets_available", "avail", ">"),
    ("n_devices", "TP", ">"),
    ("fit", "fit", "<"),
    ("need_gib", "need GiB", ">"),
    ("memory_gib", "mem GiB", ">"),
    ("basis", "basis", "<"),
    ("tokens_per_s", "tok/s (low–high)", ">"),
    ("joules_per_token_facility", "J/tok*PUE (low–high)", ">"),
    ("kgco2e_per_mtok", "kg/Mtok (low–high)", ">"),
    ("embodied_avoided_kgco2e", "avoided kg (low–high)", ">"),
    ("payback_years", "payback y (low–high)", ">"),
)
BANDED = {
    "tokens_per_s": ("tokens_per_s_low", "tokens_per_s_high"),
    "joules_per_token_facility": (
        "joules_per_token_facility_low",
        "joules_per_token_facility_high",
    ),
    "kgco2e_per_mtok": ("kgco2e_per_mtok_low", "kgco2e_per_mtok_high"),
    "embodied_avoided_kgco2e": ("embodied_avoided_kgco2e_low", "embodied_avoided_kgco2e_high"),
    "payback_years": ("payback_years_low", "payback_years_high"),
}


class Command(BaseCommand):
    help = "Which accelerators we own could serve an LLM: ranked estimates (docs/reuse.md)."

    def add_arguments(self, parser):
        parser.add_argument("--model", help=f"one of: {', '.join(sorted(reuse.llm_models()))}")
        parser.add_argument("--precision", required=True, choices=list(inference.PRECISIONS))
        parser.add_argument("--context", type=int, default=8192)
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--target-tokens-per-s", type=float)
        parser.add_argument("--site", help="site code")
        parser.add_argument("--country", help="grid intensity of this country (ISO code)")
        parser.add_argument("--pue", type=float)
        parser.add_argument("--include-in-service", action="store_true")
        parser.add_argument("--only-fitting", action="store_true")
        parser.add_argument("--rank", choices=list(reuse.RANK_KEYS), default="energy")
        parser.add_argument(
            "--engine", choices=sorted(inference.engines()), default=inference.DEFAULT_ENGINE
        )
        parser.add_argument("--limit", type=int, default=50)
        for name in ("params-b", "layers", "kv-heads", "head-dim"):
            parser.add_argument(f"--{name}", type=float if name == "params-b" else int)

    def handle(self, *args, **opts):
        names = ReuseQuerySerializer().fields.keys()
        data = {k: v for k, v in opts.items() if k in names and v not in (None, False)}
        params = ReuseQuerySerializer(data=data)
        if not params.is_valid():
            raise CommandError(json.dumps(params.errors))
        result = reuse.find_candidates(params.to_query())
        rows = reuse.page(result, 0, opts["limit"])
        self._table(rows)
        self.stdout.write(f"\n{result.total} candidate group(s); showing {len(rows)}.")
        if result.new_equivalent:
            new = result.new_equivalent
            self.stdout.write(
                f"New equivalent: {new['n_devices']} × {new['hardware_model']} "
                f"({new['release_year']}), {new['tokens_per_s']} tok/s per group."
            )
        self.stdout.write("\n" + reuse.ESTIMATE_LABEL)
        self.stdout.write(
            "Payback 'never': replacing never pays back (no operational gain, or a carbon-free "
            "grid); '—' is unknown."
        )
        self.stdout.write("Assumptions:")
        for item in result.assumptions.values():
            self.stdout.write(f"  {item['what']}: {item['value']} — {item['source']}")

    def _table(self, rows):
        def text(value):
            if value is None:
                return "—"
            if isinstance(value, bool):
                return "yes" if value else "no"
            return f"{value:.3g}" if isinstance(value, float) else str(value)

        def cell(row, key):
            if key == "payback_years":
                return payback(row)
            if key == "basis" and row["basis"] != row["energy_basis"]:
                return f"{row['basis']}, power {row['energy_basis']}"
            value = text(row.get(key))
            if key in BANDED and row.get(key) is not None:
                low, high = (text(row.get(k)) for k in BANDED[key])
                value += f" ({low}–{high})"
            return value

        def payback(row):
            # No payback year means "never" for a row that serves the request, else unknown.
            if row.get("payback_years") is None and not row["payback"].startswith("never"):
                return "—"
            low, high = (row.get(k) for k in BANDED["payback_years"])
            value = text(row["payback_years"]) if row["payback_years"] is not None else "never"
            if low is not None or row["payback_years"] is not None:
                value += f" ({text(low) if low is not None else 'never'}–"
                value += f"{text(high) if high is not None else 'never'})"
            return value

        cells = [[cell(r, key) for key, _, _ in COLUMNS] for r in rows]
        widths = [
            max([len(title), *(len(c[i]) for c in cells)])
            for i, (_, title, _) in enumerate(COLUMNS)
        ]
        line = "  ".join(f"{t:{a}{w}}" for (_, t, a), w in zip(COLUMNS, widths, strict=True))
        self.stdout.write(line)
        self.stdout.write("  ".join("-" * w for w in widths))
        for c, r in zip(cells, rows, strict=True):
            self.stdout.write(
                "  ".join(f"{v:{a}{w}}" for v, (_, _, a), w in zip(c, COLUMNS, widths, strict=True))
            )
            if r["fit"] != "fits" or not r["supported"]:
                self.stdout.write(f"    ↳ {r['reason']}")
            for caveat in r["caveats"]:
                self.stdout.write(f"    ↳ {caveat}")
