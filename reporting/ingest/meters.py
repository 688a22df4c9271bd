"""Creating and updating measurement points from `meters.csv`, atomically."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from circulus import bounds
from registry.models import Site
from reporting.ingest.csv_text import csv_rows, read_header, readable
from reporting.ingest.reports import Listing, Rejected
from reporting.models import MeasurementPoint, MeterSetting

METER_COLUMNS = ("site", "meter", "quantity", "unit", "register", "multiplier")
METER_OPTIONAL = ("device_id", "location", "interval_minutes", "valid_from", "valid_to")
# A row may state that its unit and multiplier hold from an instant on (CT ratio changed, meter
# replaced): a new setting interval; readings up to that instant keep the earlier settings.
SETTING_COLUMNS = ("settings_from", "settings_reason")


@dataclass
class MeterImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: Listing = field(default_factory=Listing)

    intervals: int = 0

    @property
    def accepted(self) -> bool:
        return self.errors.total == 0

    def summary(self) -> str:
        if not self.accepted:
            return (
                f"rejected: {self.errors.bad_lines} bad row(s) ({self.errors.total} problem(s)) "
                f"in {self.rows} row(s), nothing written"
            )
        return (
            f"{self.rows} meters: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.intervals} setting interval(s) added"
        )


def import_meters(lines: Iterable[str], *, allowed_site_ids: set[int] | None = None):
    """Create or update measurement points from `meters.csv`, atomically.

    Columns: site,meter,quantity,unit,register,multiplier, optionally device_id, location,
    interval_minutes, valid_from, valid_to. A meter code is global (readings name only it).
    """
    report = MeterImportReport()
    rows = csv_rows(lines)
    header = read_header(rows, METER_COLUMNS, report)
    if header is None:
        return report
    sites = {s.code: s for s in Site.objects.all()}
    existing = {m.code: m for m in MeasurementPoint.objects.all()}
    seen: dict[str, int] = {}
    try:
        with transaction.atomic():
            for line, row in readable(rows, report.errors):
                report.rows += 1
                if len(row) != len(header):
                    reason = f"expected {len(header)} fields, got {len(row)}"
                    report.errors.add({"line": line, "field": "row", "reason": reason})
                    continue
                data = {k: v.strip() for k, v in zip(header, row, strict=True)}
                _import_meter(line, data, sites, existing, seen, allowed_site_ids, report)
            if report.errors.total:
                raise Rejected
    except Rejected:
        report.created = report.updated = report.unchanged = 0
    return report


def _import_meter(line, data, sites, existing, seen, allowed_site_ids, report) -> None:
    def bad(field_name, reason):
        report.errors.add({"line": line, "field": field_name, "reason": reason})

    code = data["meter"]
    if code in seen:
        return bad("meter", f"meter {code!r} already on line {seen[code]}")
    seen[code] = line
    site = sites.get(data["site"])
    if site is None:
        return bad("site", f"unknown site {data['site']!r}")
    if allowed_site_ids is not None and site.pk not in allowed_site_ids:
        return bad("site", f"you do not operate site {site.code}")
    meter = existing.get(code)
    if meter is not None and meter.site_id != site.pk:
        return bad("site", f"meter {code!r} belongs to another site")
    if data.get("settings_from"):
        return _import_setting(line, data, meter, bad, report)
    fields = {k: data[k] for k in ("quantity", "unit", "register")}
    fields["multiplier"] = data["multiplier"] or "1"
    for name in METER_OPTIONAL:
        if data.get(name):
            fields[name] = data[name]
    target = meter or MeasurementPoint(site=site, code=code)
    before = {name: getattr(target, name) for name in fields} if meter else None
    try:
        for name, value in fields.items():
            if name in ("valid_from", "valid_to"):
                value = datetime.fromisoformat(value)
                if value.tzinfo is None:
                    raise ValidationError({name: "needs a UTC offset"})
                if outside := bounds.bound_refusal(value):
                    raise ValidationError({name: outside})
            setattr(target, name, value)
        target.full_clean()
    except (ValidationError, ValueError) as exc:
        messages = getattr(exc, "message_dict", None) or {"row": [str(exc)]}
        for name, reasons in messages.items():
            bad(name, "; ".join(reasons))
        return
    if meter is None:
        target.save()
        report.created += 1
    elif before != {name: getattr(target, name) for name in fields}:
        target.save()
        report.updated += 1
    else:
        report.unchanged += 1


def _import_setting(line, data, meter, bad, report) -> None:
    """A row with `settings_from`: the meter keeps its history, a setting interval is added."""
    if meter is None:
        return bad("settings_from", "a new meter has no earlier settings: leave settings_from out")
    for name in ("quantity", "register"):
        if data[name] != getattr(meter, name):
            return bad(name, f"{name} cannot change over a meter's life: give it a new code")
    try:
        valid_from = datetime.fromisoformat(data["settings_from"])
    except ValueError:
        return bad("settings_from", f"{data['settings_from']!r} is not an ISO 8601 instant")
    if valid_from.tzinfo is None:
        return bad("settings_from", "needs a UTC offset")
    if outside := bounds.bound_refusal(valid_from):
        return bad("settings_from", outside)
    setting = MeterSetting.objects.filter(meter=meter, valid_from=valid_from).first()
    wanted = {"unit": data["unit"], "multiplier": data["multiplier"] or "1"}
    if setting is not None:
        same = setting.unit == wanted["unit"] and setting.multiplier == Decimal(
            wanted["multiplier"]
        )
        if same:
            report.unchanged += 1
            return None
        return bad("settings_from", "an interval from this instant exists with other settings")
    setting = MeterSetting(
        meter=meter,
        valid_from=valid_from,
        reason=data.get("settings_reason", "") or "",
        **wanted,
    )
    try:
        setting.full_clean()
    except ValidationError as exc:
        column = {"reason": "settings_reason", "valid_from": "settings_from"}
        for name, reasons in exc.message_dict.items():
            bad(column.get(name, name), "; ".join(reasons))
        return None
    setting.save()
    report.intervals += 1
    return None
