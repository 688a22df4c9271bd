"""Measured reuse runs: the one writer, the CSV import, and the rows calibration can fit.

Validation lives in `check` (one definition for the API, the admin and the import): bad input
raises ValidationError naming the field, and nothing is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from hardware import inference
from hardware.models import HardwareKind
from registry import permissions
from registry.models import Asset, ReuseMeasurement, Site

POWER_LIMIT = 3  # × the accelerators' rated power: above it a reading is not a power draw
# What an operator states about one run; the import, the API and the admin all ask for these.
RUN_FIELDS = (
    "llm",
    "precision",
    "engine",
    "n_devices",
    "concurrency",
    "context_tokens",
    "tokens_per_s",
    "power_w",
    "duration_s",
    "started_at",
    "measured_on",
    "note",
)
# A file may leave out `started_at` (a run known to the day only).
IMPORT_COLUMNS = ("asset_tag", *(f for f in RUN_FIELDS if f != "started_at"))


def _accelerators_of(asset: Asset):
    """(accelerator model, accelerators available) for an accelerator or a server."""
    if asset.hardware_model.kind == HardwareKind.ACCELERATOR:
        return asset.hardware_model, 1
    if asset.hardware_model.kind == HardwareKind.SERVER:
        gpus = list(
            asset.components.filter(hardware_model__kind=HardwareKind.ACCELERATOR)
            .select_related("hardware_model")
            .order_by("id")
        )
        models = {g.hardware_model_id for g in gpus}
        if len(models) == 1:
            return gpus[0].hardware_model, len(gpus)
        if not gpus:
            raise ValidationError({"asset": "this server holds no accelerator"})
        raise ValidationError({"asset": "this server holds accelerators of several models"})
    raise ValidationError({"asset": f"'{asset.asset_tag}' is not an accelerator or a server"})


def check(measurement: ReuseMeasurement, actor) -> None:
    """Every rule, before anything is written; errors name their field."""
    asset = measurement.asset
    if not permissions.can_record_measurement(actor, asset.site):
        raise ValidationError(
            {"asset": f"you may not record measurements at site {asset.site.code}"}
        )
    model, boards = _accelerators_of(asset)
    measurement.hardware_model, measurement.site = model, asset.site
    # Devices as the software and the candidates count them: an MI250 board is two GCDs.
    per_board = max(model.devices_per_package or 1, 1)
    available = boards * per_board
    errors: dict[str, str] = {}
    if measurement.llm not in inference.load_llm_models():
        errors["llm"] = f"unknown language model '{measurement.llm}'"
    if measurement.precision not in inference.PRECISIONS:
        errors["precision"] = f"'{measurement.precision}' is not one of {inference.PRECISIONS}"
    if measurement.engine not in inference.engines():
        known = ", ".join(sorted(inference.engines()))
        errors["engine"] = f"unknown engine '{measurement.engine}' (known: {known})"
    if measurement.n_devices and measurement.n_devices > available:
        errors["n_devices"] = f"{asset.asset_tag} holds {available} device(s)"
    if measurement.tokens_per_s is not None and measurement.tokens_per_s <= 0:
        errors["tokens_per_s"] = "must be above 0"
    errors.update(_window_problems(measurement))
    if measurement.power_w is not None and measurement.power_w > 0 and model.tdp_w:
        limit = POWER_LIMIT * model.tdp_w / per_board * (measurement.n_devices or 1)
        if measurement.power_w > limit:
            errors["power_w"] = f"{measurement.power_w} W is above 3 × the rated power ({limit} W)"
    try:
        measurement.full_clean(exclude=["recorded_by", *errors])
    except ValidationError as exc:
        errors.update({k: "; ".join(v) for k, v in exc.message_dict.items() if k not in errors})
    if errors:
        raise ValidationError(errors)


def _window_problems(m: ReuseMeasurement) -> dict[str, str]:
    """A run's start, length and day agree, and it has ended."""
    start, seconds, day = m.started_at, m.duration_s, m.measured_on
    if start is None or not seconds or seconds < 1:
        return {}
    if timezone.is_naive(start):
        return {"started_at": "give the time with its UTC offset, e.g. 2026-12-07T09:30:00Z"}
    end = start + dt.timedelta(seconds=seconds)
    if end > timezone.now():
        return {"started_at": f"the run would end at {end:%Y-%m-%d %H:%M} UTC, in the future"}
    ended_on = end.astimezone(dt.UTC).date()
    if isinstance(day, dt.date) and day != ended_on:
        return {
            "measured_on": f"a run started at {start.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC "
            f"lasting {seconds} s ended on {ended_on} (UTC), not {day}"
        }
    return {}


def record_measurement(actor, **fields) -> ReuseMeasurement:
    measurement = ReuseMeasurement(recorded_by=actor if actor and actor.pk else None, **fields)
    check(measurement, actor)
    measurement.save()
    return measurement


def import_csv(text: str, actor) -> list[ReuseMeasurement]:
    """All rows or none; every problem as 'row N, column C: reason' (header = row 1)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in IMPORT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError([f"row 1: header lacks column(s) {', '.join(missing)}"])
    rows = list(reader)
    tags = {r["asset_tag"].strip() for r in rows}
    assets = {
        a.asset_tag: a
        for a in Asset.objects.select_related("site", "hardware_model").filter(asset_tag__in=tags)
    }
    problems, ready = [], []
    for number, row in enumerate(rows, start=2):
        fields, bad = _fields(row, assets)
        if not bad:
            try:
                measurement = ReuseMeasurement(
                    recorded_by=actor if actor and actor.pk else None, **fields
                )
                check(measurement, actor)
                ready.append(measurement)
                continue
            except ValidationError as exc:
                bad = {k: "; ".join(v) for k, v in exc.message_dict.items()}
        column = {"asset": "asset_tag"}
        problems += [f"row {number}, column {column.get(k, k)}: {v}" for k, v in bad.items()]
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        for measurement in ready:
            measurement.save()
    return ready


def _fields(row: dict, assets: dict) -> tuple[dict, dict]:
    bad, out = {}, {}
    tag = (row.get("asset_tag") or "").strip()
    if tag not in assets:
        bad["asset"] = f"no asset with tag '{tag}'"
    else:
        out["asset"] = assets[tag]
    for name in ("llm", "precision", "engine", "note"):
        out[name] = (row.get(name) or "").strip()
    for name in ("n_devices", "concurrency", "context_tokens", "duration_s"):
        text = (row.get(name) or "").strip() or ("1" if name == "n_devices" else "")
        try:
            out[name] = int(text)
        except ValueError:
            bad[name] = f"'{text}' is not a whole number"
    for name in ("tokens_per_s", "power_w"):
        text = (row.get(name) or "").strip()
        if not text and name == "power_w":
            out[name] = None
            continue
        try:
            out[name] = Decimal(text)
        except InvalidOperation:
            bad[name] = f"'{text}' is not a number"
            continue
        if not out[name].is_finite():  # Decimal reads "NaN" and "Infinity"; no figure is either
            bad[name] = f"'{text}' is not a number"
    out["measured_on"] = (row.get("measured_on") or "").strip()
    started = (row.get("started_at") or "").strip()
    out["started_at"] = None
    if started:
        try:
            out["started_at"] = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
        except ValueError:
            bad["started_at"] = f"'{started}' is not a time such as 2026-12-07T09:30:00Z"
    return out, bad


def as_calibration_rows(site_codes: list[str]) -> list[dict]:
    """A site's measurements in the shape of decode_measurements.csv, for the calibration."""
    unknown = set(site_codes) - set(
        Site.objects.filter(code__in=site_codes).values_list("code", flat=True)
    )
    if unknown:
        raise ValidationError({"site": f"no site with code(s) {', '.join(sorted(unknown))}"})
    models = inference.load_llm_models()
    link = inference.accelerator_memory()
    rows = []
    measured = ReuseMeasurement.objects.filter(site__code__in=site_codes).select_related(
        "hardware_model", "site"
    )
    for m in measured.order_by("id"):
        rows.append(
            {
                "id": f"site-{m.site.code}-{m.id}",
                "llm": m.llm,
                "params_b": str(models[m.llm].params_b) if m.llm in models else "",
                "precision": m.precision,
                "bits_per_weight": str(inference.bits_per_weight(m.precision, m.engine)),
                "gpu": m.hardware_model.slug,
                "n_gpus": str(m.n_devices),
                "interconnect": (
                    link.get(m.hardware_model.slug, {}).get("interconnect", "pcie")
                    if m.n_devices > 1
                    else "none"
                ),
                "engine": m.engine,
                "concurrency": str(m.concurrency),
                "context_tokens": str(m.context_tokens),
                "output_tokens": "",
                "tokens_per_s": str(m.tokens_per_s),
                "tokens_per_s_basis": "aggregate",
                "power_w": "" if m.power_w is None else str(m.power_w),
                "source_url": "",
                "source_title": f"site {m.site.code} measurement",
                "published": m.measured_on.isoformat(),
                "note": m.note,
                "_row": m.id,
                "_file": f"site {m.site.code} measurements",
            }
        )
    return rows
