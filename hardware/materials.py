"""Material content of a unit: what its model declares, else its class's g/kg × its mass.

The class compositions (g per kg, min–central–max, with a source per figure) ship in
`catalogue/material_classes.csv`. No Django here: the registry's selectors pass plain values.
"""

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from hardware.invariants import ClassFigure, Problem, class_problems

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
CLASSES_FILE = "material_classes.csv"
MATERIALS = ("au", "ag", "pd", "cu", "co", "ta", "nd", "al", "steel", "plastics")
CLASS_COLUMNS = (
    "class",
    "material",
    "min_g_per_kg",
    "g_per_kg",
    "max_g_per_kg",
    "confidence",
    "citation",
    "url",
)
# Catalogue kind → equipment class of the composition table.
KIND_CLASS = {
    "server": "server",
    "accelerator": "gpu-board",
    "memory": "dimm",
    "ssd": "ssd",
    "hdd": "hdd",
    "psu": "psu",
    "cpu": "cpu",
    "switch": "switch",
    "chassis": "chassis",
}


@dataclass(frozen=True)
class ClassRow:
    figure: ClassFigure
    confidence: str
    citation: str
    url: str


def _csv_rows(path: Path, columns) -> tuple[list[tuple[str, dict]], list[Problem]]:
    """A catalogue file's data rows, each with where it stands (file and row), or the problem
    that stops it being read (a missing column, an unreadable file)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                return [], [Problem(f"{path.name}: row 1", "header", f"lacks {missing}")]
            return [(f"{path.name}: row {reader.line_num}", row) for row in reader], []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], [Problem(path.name, "file", f"cannot be read: {exc}")]


def _key_problem(where: str, first: str, key: tuple[str, str], known, rows) -> Problem | None:
    """Why a (class or route, material) key cannot be taken: unknown on either side, or twice."""
    if key[0] not in known:
        return Problem(where, first, f"unknown {first} {key[0]!r}")
    if key[1] not in MATERIALS:
        return Problem(where, "material", f"unknown material {key[1]!r}")
    if key in rows:
        return Problem(where, "material", f"{key} is given twice")
    return None


def read_classes(path: Path) -> tuple[dict[tuple[str, str], ClassRow], list[Problem]]:
    """{(class, material): row} and the problems found (file, row, field and reason)."""
    rows: dict[tuple[str, str], ClassRow] = {}
    found, problems = _csv_rows(path, CLASS_COLUMNS)
    if problems:
        return {}, problems
    for where, row in found:
        key = (row["class"].strip(), row["material"].strip())
        problem = _key_problem(where, "class", key, KIND_CLASS.values(), rows)
        if problem:
            problems.append(problem)
            continue
        try:
            numbers = [Decimal(row[c]) for c in ("min_g_per_kg", "g_per_kg", "max_g_per_kg")]
        except InvalidOperation:
            problems.append(Problem(where, "g_per_kg", "min, central and max are numbers"))
            continue
        if any(n < 0 for n in numbers):
            problems.append(Problem(where, "g_per_kg", "a content is never negative"))
            continue
        if not row["citation"].strip():
            problems.append(Problem(where, "citation", "every figure names its source"))
            continue
        rows[key] = ClassRow(
            ClassFigure(key[0], key[1], *numbers),
            row["confidence"].strip(),
            row["citation"].strip(),
            row["url"].strip(),
        )
    problems += class_problems(r.figure for r in rows.values())
    for name in sorted(set(KIND_CLASS.values())):
        absent = [m for m in MATERIALS if (name, m) not in rows]
        if absent and any(k[0] == name for k in rows):
            problems.append(Problem(f"class {name}", "material", f"lacks {', '.join(absent)}"))
    return rows, problems


@cache
def shipped_classes() -> dict[tuple[str, str], ClassRow]:
    rows, problems = read_classes(CATALOGUE_DIR / CLASSES_FILE)
    if problems:
        raise ValueError("; ".join(str(p) for p in problems))
    return rows


YIELDS_FILE = "recovery_yields.csv"
YIELD_COLUMNS = (
    "route",
    "material",
    "min_yield",
    "yield",
    "max_yield",
    "confidence",
    "citation",
    "url",
)
# Recovery routes the yields describe. `shredded`: the whole device is shredded first and the
# fractions go to smelters and recyclers (the route a recycler that reports nothing is assumed
# to take; recovery_yields.csv names the sources).
ROUTES = ("shredded",)


@dataclass(frozen=True)
class Yield:
    """Share of a material's content a route recovers, as a range (0–1), with its source."""

    route: str
    material: str
    min_yield: Decimal
    central: Decimal
    max_yield: Decimal
    confidence: str
    citation: str
    url: str


def read_yields(path: Path) -> tuple[dict[tuple[str, str], Yield], list[Problem]]:
    """{(route, material): yield} and the problems found (file, row, field and reason).

    A material without a row has no known yield: its expected recoverable figure stays blank.
    """
    rows: dict[tuple[str, str], Yield] = {}
    found, problems = _csv_rows(path, YIELD_COLUMNS)
    if problems:
        return {}, problems
    for where, row in found:
        key = ((row["route"] or "").strip(), (row["material"] or "").strip())
        problem = _key_problem(where, "route", key, ROUTES, rows)
        if problem:
            problems.append(problem)
            continue
        try:
            low, mid, high = (Decimal(row[c]) for c in ("min_yield", "yield", "max_yield"))
        except (InvalidOperation, TypeError):
            problems.append(Problem(where, "yield", "min, central and max are numbers"))
            continue
        if not Decimal(0) <= low <= mid <= high <= Decimal(1):
            problems.append(
                Problem(
                    where,
                    "yield",
                    f"needs 0 ≤ min ≤ central ≤ max ≤ 1: {low}, {mid}, {high}",
                )
            )
            continue
        if not (row["citation"] or "").strip():
            problems.append(Problem(where, "citation", "every figure names its source"))
            continue
        rows[key] = Yield(
            *key,
            low,
            mid,
            high,
            row["confidence"].strip(),
            row["citation"].strip(),
            (row["url"] or "").strip(),
        )
    return rows, problems


@cache
def shipped_yields() -> dict[tuple[str, str], Yield]:
    rows, problems = read_yields(CATALOGUE_DIR / YIELDS_FILE)
    if problems:
        raise ValueError("; ".join(str(p) for p in problems))
    return rows


@dataclass(frozen=True)
class Content:
    """Grams of one material in one unit, with its basis and source."""

    g: Decimal
    min_g: Decimal
    max_g: Decimal
    basis: str  # "declared" (the model's own figure) or "estimated" (class × mass)
    source: str


def unit_content(
    kind: str,
    mass_kg: Decimal | None,
    declared_g: dict[str, Decimal | None],
    declared_basis: dict[str, str] | None = None,
    classes: dict[tuple[str, str], ClassRow] | None = None,
    mass_min_kg: Decimal | None = None,
    mass_max_kg: Decimal | None = None,
) -> dict[str, Content | None]:
    """Per material: the model's declared grams, else class g/kg × mass; None when unknown
    (no declared figure and no mass, or a kind without a class).

    An estimated mass carries a range: the content's minimum is the class minimum × the lightest
    mass and its maximum the class maximum × the heaviest, so both uncertainties are shown.
    """
    classes = shipped_classes() if classes is None else classes
    declared_basis = declared_basis or {}
    equipment_class = KIND_CLASS.get(kind)
    low_kg = mass_min_kg if mass_min_kg is not None else mass_kg
    high_kg = mass_max_kg if mass_max_kg is not None else mass_kg
    mass_text = f"{mass_kg} kg" if low_kg == high_kg else f"{mass_kg} kg ({low_kg}–{high_kg})"
    out: dict[str, Content | None] = {}
    for material in MATERIALS:
        grams = declared_g.get(material)
        if grams is not None:
            basis = declared_basis.get(material, "declared")
            out[material] = Content(grams, grams, grams, basis, "catalogue entry")
            continue
        row = classes.get((equipment_class, material)) if equipment_class else None
        if row is None or mass_kg is None:
            out[material] = None
            continue
        f = row.figure
        out[material] = Content(
            f.g_per_kg * mass_kg,
            f.min_g_per_kg * low_kg,
            f.max_g_per_kg * high_kg,
            "estimated",
            f"{equipment_class} class, {f.g_per_kg} g/kg × {mass_text}: {row.citation}",
        )
    return out
