"""What must hold for a catalogue entry to be believed: physics and plausible specs.

Pure functions over plain values (no Django), so `load_catalogue`, `check_catalogue` and the
tests apply the very same rules. Each problem names the entry, the field and the rule broken.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

# Grams per unit declared on a catalogue entry (the metals of sources.csv, plus steel and plastics).
MATERIAL_FIELDS = (
    "au_g",
    "ag_g",
    "pd_g",
    "cu_g",
    "co_g",
    "ta_g",
    "nd_g",
    "al_g",
    "steel_g",
    "plastics_g",
)
MASS_FIELDS = ("mass_kg", "mass_min_kg", "mass_max_kg")
# (min, central, max) triples: the central figure lies inside its range.
RANGED = (
    ("embodied_gwp_min_kgco2e", "embodied_gwp_kgco2e", "embodied_gwp_max_kgco2e"),
    ("mass_min_kg", "mass_kg", "mass_max_kg"),
)
# Plausible bounds of a spec, inclusive, by kind ("*" = any kind). Wider than anything shipped
# (the H100 SXM5 draws 700 W and moves 3,350 GB/s; the MI250 holds 128 GB); a figure outside
# them is a unit slip (W for kW, MB for GB) rather than new hardware.
PLAUSIBLE = {
    ("accelerator", "tdp_w"): (Decimal(10), Decimal(2000)),
    ("cpu", "tdp_w"): (Decimal(5), Decimal(1000)),
    ("memory", "tdp_w"): (Decimal("0.5"), Decimal(50)),
    ("ssd", "tdp_w"): (Decimal("0.5"), Decimal(50)),
    ("hdd", "tdp_w"): (Decimal("0.5"), Decimal(50)),
    ("*", "tdp_w"): (Decimal(1), Decimal(20000)),
    ("*", "memory_bandwidth_gbps"): (Decimal(10), Decimal(20000)),
    ("*", "memory_gb"): (Decimal(1), Decimal(1024)),
    ("*", "mass_kg"): (Decimal("0.001"), Decimal(2000)),
    ("*", "mass_min_kg"): (Decimal("0.001"), Decimal(2000)),
    ("*", "mass_max_kg"): (Decimal("0.001"), Decimal(2000)),
}
# Kinds that sit inside a server; none may outweigh the lightest server of the catalogue.
COMPONENT_KINDS = frozenset({"accelerator", "cpu", "memory", "ssd", "hdd", "psu"})


@dataclass(frozen=True)
class Problem:
    entry: str  # the model's slug, or a material class
    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.entry}: field {self.field}: {self.rule}"


def _plausible(kind: str, name: str) -> tuple[Decimal, Decimal] | None:
    return PLAUSIBLE.get((kind, name)) or PLAUSIBLE.get(("*", name))


def entry_problems(slug: str, values: Mapping[str, object]) -> list[Problem]:
    """The rules one entry must keep on its own."""
    problems = []
    kind = str(values.get("kind") or "")
    mass_kg = values.get("mass_kg")
    declared = {f: values[f] for f in MATERIAL_FIELDS if values.get(f) is not None}
    if declared:
        grams = sum(declared.values(), Decimal(0))
        if mass_kg is None:
            problems.append(
                Problem(slug, "mass_kg", f"materials of {grams} g declared but the mass is blank")
            )
        elif grams > Decimal(values.get("mass_min_kg") or mass_kg) * 1000:
            # They must fit in the lightest unit the mass range allows.
            lightest = values.get("mass_min_kg") or mass_kg
            problems.append(
                Problem(
                    slug,
                    "mass_kg",
                    f"declared materials ({', '.join(declared)}) weigh {grams} g, more than "
                    f"the unit's {lightest} kg",
                )
            )
    for low_name, mid_name, high_name in RANGED:
        low, mid, high = values.get(low_name), values.get(mid_name), values.get(high_name)
        if low is not None and mid is not None and low > mid:
            problems.append(Problem(slug, low_name, f"minimum {low} is above the central {mid}"))
        if mid is not None and high is not None and mid > high:
            problems.append(Problem(slug, high_name, f"central {mid} is above the maximum {high}"))
        if low is not None and high is not None and mid is None and low > high:
            problems.append(Problem(slug, low_name, f"minimum {low} is above the maximum {high}"))
    if mass_kg is None and any(values.get(n) is not None for n in ("mass_min_kg", "mass_max_kg")):
        problems.append(Problem(slug, "mass_kg", "a mass range needs its central mass"))
    for name in ("tdp_w", "memory_bandwidth_gbps", "memory_gb", *MASS_FIELDS):
        value, bounds = values.get(name), _plausible(kind, name)
        if value is not None and bounds and not bounds[0] <= value <= bounds[1]:
            problems.append(
                Problem(slug, name, f"{value} lies outside the plausible {bounds[0]}–{bounds[1]}")
            )
    return problems


def catalogue_problems(entries: Mapping[str, Mapping[str, object]]) -> list[Problem]:
    """Every entry's own rules, then the rules between entries."""
    problems = [p for slug, values in entries.items() for p in entry_problems(slug, values)]
    servers = [
        (values["mass_kg"], slug)
        for slug, values in entries.items()
        if values.get("kind") == "server" and values.get("mass_kg") is not None
    ]
    if servers:
        lightest_kg, lightest = min(servers)
        for slug, values in entries.items():
            # The whole range must fit: a component's heaviest estimate, else its mass.
            mass_kg = values.get("mass_max_kg") or values.get("mass_kg")
            heavier = mass_kg is not None and mass_kg > lightest_kg
            if values.get("kind") in COMPONENT_KINDS and heavier:
                problems.append(
                    Problem(
                        slug,
                        "mass_kg",
                        f"this {values['kind']} of {mass_kg} kg outweighs the server it goes in "
                        f"(lightest server {lightest}: {lightest_kg} kg)",
                    )
                )
    return problems


@dataclass(frozen=True)
class ClassFigure:
    """Grams of one material per kilogram of a class of equipment, as a range."""

    equipment_class: str
    material: str
    min_g_per_kg: Decimal
    g_per_kg: Decimal
    max_g_per_kg: Decimal


def class_problems(figures: Iterable[ClassFigure]) -> list[Problem]:
    """A class's range is ordered, and its central and minimum figures fit in one kilogram."""
    problems = []
    central: dict[str, Decimal] = {}
    minimum: dict[str, Decimal] = {}
    for f in figures:
        where = f"class {f.equipment_class}"
        if f.min_g_per_kg > f.g_per_kg:
            problems.append(
                Problem(
                    where, f.material, f"minimum {f.min_g_per_kg} is above central {f.g_per_kg}"
                )
            )
        if f.g_per_kg > f.max_g_per_kg:
            problems.append(
                Problem(
                    where, f.material, f"central {f.g_per_kg} is above maximum {f.max_g_per_kg}"
                )
            )
        central[f.equipment_class] = central.get(f.equipment_class, Decimal(0)) + f.g_per_kg
        minimum[f.equipment_class] = minimum.get(f.equipment_class, Decimal(0)) + f.min_g_per_kg
    for name, total in central.items():
        if total > 1000:
            problems.append(
                Problem(f"class {name}", "g_per_kg", f"central figures add up to {total} g/kg")
            )
        if minimum[name] > 1000:
            problems.append(
                Problem(f"class {name}", "min_g_per_kg", f"minima add up to {minimum[name]} g/kg")
            )
    return problems
