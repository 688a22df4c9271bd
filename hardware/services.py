"""Writes to the catalogue: loading the reference data shipped in hardware/catalogue/."""

import csv
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.text import slugify

from hardware import calibration, inference
from hardware.invariants import MASS_FIELDS, catalogue_problems
from hardware.materials import CLASSES_FILE, YIELDS_FILE, read_classes, read_yields
from hardware.models import (
    SOURCED_FIELDS,
    Basis,
    Confidence,
    DecodeMeasurement,
    FigureSource,
    HardwareModel,
    Manufacturer,
    Source,
)

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
MODEL_COLUMNS = (
    "slug",
    "manufacturer",
    "name",
    "kind",
    "part_number",
    "form_factor",
    "release_year",
    "mass_kg",
    "mass_min_kg",
    "mass_max_kg",
    "tdp_w",
    "holds_data",
    "weee_category",
    "capacity_gb",
    "accelerator_slots",
    "memory_gb",
    "memory_bandwidth_gbps",
    "fp16_tflops",
    "bf16_tflops",
    "int8_tops",
    "architecture",
    "compute_capability",
    "supports_bf16",
    "supports_fp8",
    "software_stack",
    "devices_per_package",
    "embodied_gwp_kgco2e",
    "embodied_gwp_min_kgco2e",
    "embodied_gwp_max_kgco2e",
    "lifetime_years",
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
    "notes",
)
SOURCE_COLUMNS = ("model", "fields", "basis", "confidence", "citation", "url", "note")
EMBODIED_COLUMNS = (
    "model",
    "value_kgco2e",
    "scope",
    "in_range",
    "source_title",
    "source_url",
    "basis",
    "note",
)
EMBODIED_FIELDS = ("embodied_gwp_min_kgco2e", "embodied_gwp_kgco2e", "embodied_gwp_max_kgco2e")
# Columns copied onto HardwareModel (everything but the key and the manufacturer name).
VALUE_COLUMNS = tuple(c for c in MODEL_COLUMNS if c not in ("slug", "manufacturer"))
TRUE, FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


class CatalogueError(Exception):
    """A catalogue file is malformed; `problems` names file, row, field and reason for each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    sources_written: int = 0
    sources_removed: int = 0
    measurements: int = 0
    validation_measurements: int = 0
    range_measurements: int = 0
    kept_operator_edits: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged; "
            f"{self.sources_written} figure sources written; "
            f"{self.measurements} published decode measurements"
        )
        roles = [
            f"{count} {words}"
            for count, words in (
                (self.range_measurements, "size the range"),
                (self.validation_measurements, "an independent check"),
            )
            if count
        ]
        if roles:
            text += f" (never fitted: {', '.join(roles)})"
        if self.sources_removed:
            text += f"; {self.sources_removed} figure source(s) no longer cited removed"
        if self.kept_operator_edits:
            text += f"; kept {len(self.kept_operator_edits)} operator-edited figure(s)"
        return text


def canonical(value) -> str:
    """One text form per value, so `1.690` read back from the database equals `1.69` from CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _parse(model_field: models.Field, raw: str):
    raw = raw.strip()
    if isinstance(model_field, models.BooleanField):
        if raw == "":
            if model_field.null:
                return None
            raise ValidationError("a value is required (true/false)")
        if raw.lower() in TRUE:
            return True
        if raw.lower() in FALSE:
            return False
        raise ValidationError(f"'{raw}' is not true or false")
    if raw == "":
        return None if model_field.null else ""
    value = model_field.to_python(raw)
    model_field.run_validators(value)
    if model_field.choices and value not in {c[0] for c in model_field.flatchoices}:
        raise ValidationError(f"'{raw}' is not one of {[c[0] for c in model_field.flatchoices]}")
    return value


def _read(path: Path, required: tuple[str, ...], problems: list[str]) -> list[tuple[int, dict]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                problems.append(f"{path.name}: row 1: header lacks column(s) {', '.join(missing)}")
                return []
            rows = []
            for row in reader:
                if None in row:
                    problems.append(
                        f"{path.name}: row {reader.line_num}: more cells than header columns"
                    )
                    continue
                rows.append((reader.line_num, row))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.append(f"{path.name}: cannot be read: {exc}")
        return []


def _parse_models(
    path: Path, problems: list[str], seen: set[str]
) -> dict[str, tuple[int, str, dict]]:
    parsed: dict[str, tuple[int, str, dict]] = {}
    for line, row in _read(path, tuple(MODEL_COLUMNS), problems):
        where = f"{path.name}: row {line}"
        slug = row["slug"].strip()
        seen.add(slug)
        if not slug or slugify(slug) != slug:
            problems.append(f"{where}: field slug: '{slug}' is not a valid slug")
            continue
        if slug in parsed:
            problems.append(f"{where}: field slug: '{slug}' repeats row {parsed[slug][0]}")
            continue
        where = f"{where}: model {slug}"
        if not row["manufacturer"].strip():
            problems.append(f"{where}: field manufacturer: a value is required")
        values, bad = {}, False
        for column in VALUE_COLUMNS:
            try:
                values[column] = _parse(HardwareModel._meta.get_field(column), row[column])
            except ValidationError as exc:
                problems.append(f"{where}: field {column}: {'; '.join(exc.messages)}")
                bad = True
        if bad:
            continue
        candidate = HardwareModel(slug=slug, **values)
        try:
            candidate.full_clean(exclude=["manufacturer", "slug"], validate_unique=False)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                problems.append(f"{where}: field {name}: {'; '.join(messages)}")
            continue
        parsed[slug] = (line, row["manufacturer"].strip(), values)
    return parsed


def _parse_sources(path: Path, slugs: set[str], problems: list[str]) -> list[dict]:
    parsed = []
    basis, confidence = {c.value for c in Basis}, {c.value for c in Confidence} | {""}
    url_field = Source._meta.get_field("url")
    for line, row in _read(path, SOURCE_COLUMNS, problems):
        where = f"{path.name}: row {line}"
        before = len(problems)
        if row["model"].strip() not in slugs:
            problems.append(f"{where}: field model: '{row['model']}' is not in models.csv")
        fields = row["fields"].split()
        unknown = [f for f in fields if f not in SOURCED_FIELDS]
        if not fields or unknown:
            problems.append(f"{where}: field fields: unknown figure(s) {unknown or '(none given)'}")
        if row["basis"].strip() not in basis:
            problems.append(f"{where}: field basis: '{row['basis']}' is not one of {sorted(basis)}")
        if row["confidence"].strip() not in confidence:
            problems.append(f"{where}: field confidence: '{row['confidence']}' is not valid")
        if not row["citation"].strip():
            problems.append(f"{where}: field citation: a citation is required")
        try:
            url_field.clean(row["url"].strip(), None)
        except ValidationError as exc:
            problems.append(f"{where}: field url: {'; '.join(exc.messages)}")
        if len(problems) == before and row["model"].strip() in slugs:
            parsed.append({k: (v or "").strip() for k, v in row.items()} | {"fields": fields})
    return parsed


def check_catalogue(directory: Path = CATALOGUE_DIR) -> tuple[dict, list[dict], list[str]]:
    """Parse the catalogue files and apply every rule to them; nothing is written.

    Returns the parsed models and sources and the problems, each naming file or model, field
    and rule: the format of each cell, then the physics and plausibility of `hardware.invariants`
    (materials within the unit's mass, ranges in order, specs in range, components lighter than
    servers, on the figures as loaded: embodied ranges applied), then the class compositions of
    material_classes.csv and the recovery yields of recovery_yields.csv.
    """
    models_by_slug, sources, _embodied, _measurements, problems = _parse_all(directory)
    return models_by_slug, sources, problems


def _parse_all(directory: Path) -> tuple[dict, list[dict], dict, list, list[str]]:
    problems: list[str] = []
    seen: set[str] = set()  # every slug named, valid or not: its sources are not errors too
    models_by_slug = _parse_models(directory / "models.csv", problems, seen)
    sources = _parse_sources(directory / "sources.csv", seen, problems)
    embodied = _parse_embodied(directory / "embodied_estimates.csv", seen, problems)
    measurements = _parse_measurements(directory, problems)
    _apply_embodied(models_by_slug, sources, embodied)
    entries = {slug: values for slug, (_line, _maker, values) in models_by_slug.items()}
    lines = {slug: line for slug, (line, _maker, _values) in models_by_slug.items()}
    for problem in catalogue_problems(entries):
        problems.append(f"models.csv: row {lines[problem.entry]}: model {problem}")
    if (directory / CLASSES_FILE).exists():
        problems += [str(p) for p in read_classes(directory / CLASSES_FILE)[1]]
    else:
        problems.append(f"{CLASSES_FILE}: missing from {directory}")
    if (directory / YIELDS_FILE).exists():
        problems += [str(p) for p in read_yields(directory / YIELDS_FILE)[1]]
    else:
        problems.append(f"{YIELDS_FILE}: missing from {directory}")
    return models_by_slug, sources, embodied, measurements, problems


def _parse_embodied(path: Path, slugs: set[str], problems: list[str]) -> dict[str, list[dict]]:
    """Published embodied-carbon estimates per model, those counted in its range only."""
    if not path.exists():
        return {}
    by_model: dict[str, list[dict]] = {}
    for line, row in _read(path, EMBODIED_COLUMNS, problems):
        where = f"{path.name}: row {line}"
        row = {k: (v or "").strip() for k, v in row.items()}
        bad = len(problems)
        if row["model"] not in slugs:
            problems.append(f"{where}: field model: '{row['model']}' is not in models.csv")
        try:
            value = Decimal(row["value_kgco2e"])
            if not value > 0:
                raise ValueError
        except (ArithmeticError, ValueError):
            problems.append(f"{where}: field value_kgco2e: '{row['value_kgco2e']}' must be > 0")
        if row["in_range"].lower() not in TRUE | FALSE:
            problems.append(f"{where}: field in_range: '{row['in_range']}' is not true or false")
        if not row["source_title"]:
            problems.append(f"{where}: field source_title: a citation is required")
        if len(problems) == bad and row["in_range"].lower() in TRUE:
            by_model.setdefault(row["model"], []).append({**row, "value": value, "line": line})
    return by_model


def embodied_range(estimates: list[dict]) -> dict[str, dict]:
    """low / central / high, each one published estimate (docs/hardware-catalogue.md).

    Central: the median estimate; with an even number, the lower of the two middle ones, so the
    carbon credited to reuse is not overstated and every value keeps its own source.
    """
    ranked = sorted(estimates, key=lambda e: (e["value"], e["source_title"]))
    return {
        "embodied_gwp_min_kgco2e": ranked[0],
        "embodied_gwp_kgco2e": ranked[(len(ranked) - 1) // 2],
        "embodied_gwp_max_kgco2e": ranked[-1],
    }


def _apply_embodied(models_by_slug: dict, sources: list[dict], embodied: dict) -> None:
    """Embodied ranges replace models.csv's figures and sources.csv's citations for them."""
    for slug, estimates in embodied.items():
        if slug not in models_by_slug:
            continue
        chosen = embodied_range(estimates)
        values = models_by_slug[slug][2]
        for field_name, estimate in chosen.items():
            values[field_name] = estimate["value"]
        for row in sources:
            if row["model"] == slug:
                row["fields"] = [f for f in row["fields"] if f not in EMBODIED_FIELDS]
        others = "; ".join(f"{e['value']:g} kg ({e['source_title'][:60]})" for e in estimates)
        role = {
            "embodied_gwp_min_kgco2e": "lowest",
            "embodied_gwp_kgco2e": "central (median)",
            "embodied_gwp_max_kgco2e": "highest",
        }
        for field_name, estimate in chosen.items():
            sources.append(
                {
                    "model": slug,
                    "fields": [field_name],
                    "basis": Basis.DECLARED
                    if "manufacturer" in estimate["source_title"].lower()
                    else Basis.ESTIMATED,
                    "confidence": "",
                    "citation": estimate["source_title"][:500],
                    "url": estimate["source_url"],
                    "note": f"{role[field_name]} of {len(estimates)} estimate(s), scope: "
                    f"{estimate['scope']}; all: {others}"[:300],
                }
            )
    sources[:] = [row for row in sources if row["fields"]]


MEASUREMENT_FILES = {
    "decode_measurements.csv": DecodeMeasurement.Role.FITTED,
    calibration.VALIDATION_FILE: DecodeMeasurement.Role.VALIDATION,
    calibration.RANGE_FILE: DecodeMeasurement.Role.RANGE,
}


def _parse_measurements(directory: Path, problems: list[str]) -> list[dict]:
    """Published decode measurements (fitted and independent), checked by the calibration's
    rules; each row carries its role."""
    out = []
    for name, role in MEASUREMENT_FILES.items():
        path = directory / name
        if not path.exists():
            continue
        before = len(problems)
        rows = calibration.read_measurements(path, problems)
        if len(problems) > before:
            continue
        try:
            calibration.feature_table(
                rows, inference.load_llm_models(), calibration.load_accelerators(directory)
            )
        except calibration.MeasurementError as exc:
            problems.extend(exc.problems)
        out += [{**row, "_role": role} for row in rows]
    return out


def _write_measurements(rows: list[dict], ids: dict[str, int], cited: dict) -> int:
    def num(text):
        text = (text or "").strip()
        return Decimal(text) if text else None

    def whole(text):
        value = num(text)
        return int(value) if value is not None else None

    stored = {(m.role, m.key): m for m in DecodeMeasurement.objects.all()}
    fresh, changed, names = [], [], set()
    for row in rows:
        key = (row["source_title"].strip()[:500], row["source_url"].strip())
        source = cited.get(key)
        if source is None:
            source = cited[key] = Source.objects.create(citation=key[0], url=key[1])
        values = {
            "llm": row["llm"].strip(),
            "params_b": num(row["params_b"]) or 0,
            "precision": row["precision"].strip().lower(),
            "bits_per_weight": num(row["bits_per_weight"]),
            "hardware_model_id": ids[row["gpu"].strip()],
            "n_devices": whole(row["n_gpus"]),
            "interconnect": row["interconnect"].strip() or "none",
            "engine": row["engine"].strip(),
            "concurrency": whole(row["concurrency"]),
            "context_tokens": whole(row["context_tokens"]),
            "output_tokens": whole(row["output_tokens"]),
            "tokens_per_s": num(row["tokens_per_s"]),
            "tokens_per_s_basis": row["tokens_per_s_basis"].strip()[:100],
            "power_w": num(row["power_w"]),
            "source_id": source.id,
            "published": row["published"].strip()[:20],
            "note": row["note"].strip(),
        }
        current = stored.pop((row["_role"], row["id"].strip()), None)
        if current is None:
            fresh.append(DecodeMeasurement(role=row["_role"], key=row["id"].strip(), **values))
            continue
        differ = {name for name, value in values.items() if getattr(current, name) != value}
        if differ:
            for name in differ:
                setattr(current, name, values[name])
            changed.append(current)
            names |= differ
    # Reference data owned by the file, inside the load's transaction: a row the file no longer
    # has goes, a changed row is updated in place, an unchanged row keeps its id untouched.
    if stored:
        DecodeMeasurement.objects.filter(pk__in=[m.pk for m in stored.values()]).delete()
    if changed:
        DecodeMeasurement.objects.bulk_update(changed, sorted(names))
    DecodeMeasurement.objects.bulk_create(fresh)
    return len(rows)


def load_catalogue(directory: Path = CATALOGUE_DIR) -> LoadReport:
    """Load models.csv and sources.csv: all or nothing, idempotent, operator edits preserved.

    A figure whose stored value differs from what the loader last wrote was edited by an operator
    (in the admin, the API or a shell) and is left as it is, with its source.
    """
    models_by_slug, sources, _embodied, measurements, problems = _parse_all(directory)
    if problems:
        raise CatalogueError(problems)

    report = LoadReport()
    with transaction.atomic():
        manufacturers = {m.name: m for m in Manufacturer.objects.all()}
        edited: dict[str, set[str]] = {}
        for slug, (_line, maker_name, values) in models_by_slug.items():
            maker = manufacturers.get(maker_name)
            if maker is None:
                maker = Manufacturer.objects.create(name=maker_name, slug=slugify(maker_name))
                manufacturers[maker_name] = maker
            edited[slug] = _upsert_model(slug, maker, values, report)
        ids = dict(HardwareModel.objects.values_list("slug", "id"))
        existing = {(fs.hardware_model_id, fs.field): fs for fs in FigureSource.objects.all()}
        cited = {(s.citation, s.url): s for s in Source.objects.all()}
        for row in sources:
            report.sources_written += _upsert_sources(
                row, ids[row["model"]], edited[row["model"]], existing, cited
            )
        report.measurements = _write_measurements(measurements, ids, cited)
        report.validation_measurements = sum(
            1 for row in measurements if row["_role"] == DecodeMeasurement.Role.VALIDATION
        )
        report.range_measurements = sum(
            1 for row in measurements if row["_role"] == DecodeMeasurement.Role.RANGE
        )
        # The rules between entries, on what the load leaves: the file's models beside the
        # operators' own and their kept edits. A problem undoes the whole load.
        stored = HardwareModel.objects.values("slug", "kind", *MASS_FIELDS)
        between = catalogue_problems({row["slug"]: row for row in stored})
        if between:
            raise CatalogueError([f"model {problem}" for problem in between])
        # A figure the catalogue no longer cites (e.g. withdrawn as impossible) loses the source
        # the loader once wrote for it; operators' sources and edited figures are kept.
        cited_now = {(ids[row["model"]], name) for row in sources for name in row["fields"]}
        slugs = {model_id: slug for slug, model_id in ids.items()}
        for (model_id, name), figure_source in existing.items():
            slug = slugs.get(model_id)
            if (
                figure_source.from_catalogue
                and (model_id, name) not in cited_now
                and slug in models_by_slug
                and name not in edited[slug]
            ):
                figure_source.delete()
                report.sources_removed += 1
    return report


def _upsert_model(slug: str, maker: Manufacturer, values: dict, report: LoadReport) -> set[str]:
    snapshot = {column: canonical(value) for column, value in values.items()}
    obj = HardwareModel.objects.filter(slug=slug).first()  # 40 rows: one query each is fine
    if obj is None:
        HardwareModel.objects.create(
            slug=slug, manufacturer=maker, catalogue_values=snapshot, **values
        )
        report.created += 1
        return set()
    edited, changed = set(), False
    for column, value in values.items():
        current = canonical(getattr(obj, column))
        last_loaded = obj.catalogue_values.get(column)
        if last_loaded is not None and current != last_loaded:
            edited.add(column)
            report.kept_operator_edits.append(f"{slug}.{column}")
            continue
        if current != snapshot[column]:
            setattr(obj, column, value)
            changed = True
    new_snapshot = {
        c: (obj.catalogue_values.get(c) if c in edited else v) for c, v in snapshot.items()
    }
    if changed or new_snapshot != obj.catalogue_values:
        obj.catalogue_values = new_snapshot
        # The file's figures beside the operator's kept edits: the entry's own rules hold on
        # the mix (the rules between entries are checked once every entry is written).
        try:
            obj.clean_fields()
        except ValidationError as exc:
            errors = {name: "; ".join(messages) for name, messages in exc.message_dict.items()}
        else:
            errors = obj.entry_errors()
        if errors:
            raise CatalogueError(
                [
                    f"model {slug}: field {name}: {rule} (with the kept operator edits of "
                    f"{', '.join(sorted(edited)) or 'none'})"
                    for name, rule in errors.items()
                ]
            )
        obj.save()
        report.updated += 1
    else:
        report.unchanged += 1
    return edited


def _upsert_sources(row: dict, model_id: int, edited: set[str], existing: dict, cited: dict) -> int:
    source = cited.get((row["citation"], row["url"]))
    if source is None:
        source = cited[(row["citation"], row["url"])] = Source.objects.create(
            citation=row["citation"], url=row["url"]
        )
    written = 0
    for name in row["fields"]:
        if name in edited:
            continue
        wanted = {
            "source": source,
            "basis": row["basis"],
            "confidence": row["confidence"],
            "note": row["note"],
        }
        current = existing.get((model_id, name))
        if current is None:
            existing[(model_id, name)] = FigureSource.objects.create(
                hardware_model_id=model_id, field=name, from_catalogue=True, **wanted
            )
            written += 1
        elif current.from_catalogue and any(getattr(current, k) != v for k, v in wanted.items()):
            for key, value in wanted.items():
                setattr(current, key, value)
            current.save()
            written += 1
    return written
