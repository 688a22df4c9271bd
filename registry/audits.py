"""Physical audits: count a site, a room or a rack by scanning tags, compare with the register,
then record what was seen.

- Expected: units recorded in the audit's scope, in a state in which they are on the floor
  (in stock, in service, in repair, awaiting disposition, reserved), and not installed in
  another unit (a part is counted with what it is in; scanned, it counts like any unit).
- Found: expected and seen where recorded. Missing: expected, not (yet) seen. Misplaced: seen
  here but recorded elsewhere (another site, room or rack), or recorded in a state in which it
  is not on the floor (ordered, at a refurbisher, sold, recycled, lost …). Unknown: a tag the
  register does not know. A tag scanned twice is one
  unit seen; its last scan says where and when.
- Closing records, in one transaction, one `audited` ledger event per unit seen (with where)
  through the one writer, and a `moved` event first for each misplaced unit the operator
  confirmed: every event or none, a refusal naming the tag and why. A unit seen that the
  register has off the floor is reported, never moved or recorded (a correction, or `received`
  for an ordered unit, is an operator's decision).
- A close with more units seen than AUDIT_CLOSE_INLINE_MAX is handed to a worker (`request_close`):
  the audit is `closing` meanwhile (no scan, no second close, no cancel) and ends closed, with the
  same events in the same single transaction, or open again with the reason, nothing recorded.
"""

import datetime as dt
import json
import logging
import re
import zoneinfo
from dataclasses import asdict, dataclass, field
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from registry import permissions, services
from registry.labels import model_name
from registry.lifecycle import ON_SITE, EventKind, State
from registry.models import Asset, Audit, AuditScan, AuditStatus, LifecycleEvent, Site, place

FOUND, MISSING, MISPLACED, UNKNOWN = "found", "missing", "misplaced", "unknown"
RESULTS = {
    FOUND: "Found",
    MISSING: "Missing",
    MISPLACED: "Misplaced",
    UNKNOWN: "Unknown tag",
}
MAX_TAG = AuditScan._meta.get_field("tag").max_length
log = logging.getLogger(__name__)
NOT_QUEUED = (
    "The task queue cannot be reached: the close was not queued and nothing was recorded; the "
    "audit is open. Close it again once the queue is back."
)
FAILED = "the close stopped unexpectedly and nothing was recorded; close the audit again"
LOST = "no worker finished the close in time and nothing was recorded; close the audit again"


class AuditError(ValidationError):
    """A refused audit step; `message_dict` names the tag (or field) and why."""


class NotQueued(Exception):
    """A large close could not be handed to a worker: the audit is open again, nothing recorded."""


@dataclass
class Line:
    """One row of an audit's lists, as the page, the report and the API show it."""

    result: str
    tag: str
    asset_id: int | None = None
    model: str = ""
    state: str = ""
    recorded: str = ""  # where the register says it is
    seen: str = ""  # where it was scanned
    seen_at: str = ""  # ISO 8601
    seen_by: str = ""
    note: str = ""
    movable: bool = False  # misplaced and in custody: a `moved` to where it was seen is offered
    recorded_events: str = ""  # at close: what the ledger got


@dataclass
class Sheet:
    found: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    misplaced: list = field(default_factory=list)
    unknown: list = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in RESULTS}

    def lines(self) -> list[Line]:
        return self.found + self.missing + self.misplaced + self.unknown

    def as_json(self) -> dict:
        return {name: [asdict(line) for line in getattr(self, name)] for name in RESULTS}

    @classmethod
    def from_json(cls, data: dict) -> "Sheet":
        return cls(**{name: [Line(**row) for row in data.get(name, [])] for name in RESULTS})


# --- reading ---------------------------------------------------------------------------------


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def scope_filter(audit: Audit) -> Q:
    q = Q(site=audit.site_id)
    if audit.room:
        q &= Q(room__iexact=audit.room)
    if audit.rack:
        q &= Q(rack__iexact=audit.rack)
    return q


def expected(audit: Audit):
    """The units the register says are on the floor in the audit's scope."""
    return (
        Asset.objects.filter(scope_filter(audit), state__in=ON_SITE, parent__isnull=True)
        .select_related("hardware_model__manufacturer", "site")
        .order_by("asset_tag")
    )


def _outermost(asset: Asset) -> Asset:
    """Where a part is recorded is where the unit it is in is."""
    node = asset
    for _ in range(10):
        if node.parent_id is None:
            break
        node = node.parent
    return node


def _recorded(asset: Asset) -> tuple[str, str, str]:
    holder = _outermost(asset)
    return holder.site.code, holder.room, holder.rack


def _elsewhere(recorded: tuple[str, str, str], scan: AuditScan, site_code: str) -> bool:
    """Seen somewhere other than recorded, as far as the scan names a place."""
    r_site, r_room, r_rack = recorded
    return (
        r_site != site_code
        or bool(scan.room and not _same(scan.room, r_room))
        or bool(scan.rack and not _same(scan.rack, r_rack))
    )


def classify(audit: Audit, user=None) -> Sheet:
    """The four lists as the scans so far make them. With `user`, which misplaced units that
    user may confirm as moved (a unit recorded at a site they do not operate cannot be)."""
    if audit.status == AuditStatus.CLOSED and audit.outcome:
        return Sheet.from_json(audit.outcome)
    site_code = audit.site.code
    zone = zoneinfo.ZoneInfo(audit.site.time_zone)
    last: dict = {}
    unknown: dict = {}
    scans = audit.scans.select_related(
        "scanned_by",
        "asset__site",
        "asset__hardware_model__manufacturer",
        "asset__parent__site",
        "asset__parent__parent__site",
    ).order_by("scanned_at", "id")
    for scan in scans:
        if scan.asset_id is None:
            unknown.setdefault(scan.tag.casefold(), scan)
        else:
            last[scan.asset_id] = scan
    sheet = Sheet()
    expected_units = {unit.pk: unit for unit in expected(audit)}
    for scan in sorted(last.values(), key=lambda s: s.asset.asset_tag):
        unit = scan.asset
        recorded = _recorded(unit)
        line = _line(unit, recorded, scan, site_code, zone)
        if unit.state not in ON_SITE:
            line.result = MISPLACED
            line.note = (
                f"Recorded as {State(unit.state).label.lower()}: reported, not moved "
                "(record a correction if it is really here)."
            )
        elif _elsewhere(recorded, scan, site_code):
            line.result = MISPLACED
            if unit.parent_id:
                line.note = f"Installed in {unit.parent.asset_tag}: it moves with it."
            elif user is not None and not permissions.can_record(user, EventKind.MOVED, unit.site):
                line.note = f"Recorded at {unit.site.code}, a site you do not operate."
            else:
                line.movable = True
        else:
            line.result = FOUND
        getattr(sheet, line.result).append(line)
    for pk, unit in expected_units.items():
        if pk not in last:
            sheet.missing.append(
                Line(
                    result=MISSING,
                    tag=unit.asset_tag,
                    asset_id=unit.pk,
                    model=model_name(unit.hardware_model),
                    state=State(unit.state).label,
                    recorded=place(unit.site.code, unit.room, unit.rack),
                )
            )
    for scan in sorted(unknown.values(), key=lambda s: s.tag.casefold()):
        sheet.unknown.append(
            Line(
                result=UNKNOWN,
                tag=scan.tag,
                seen=place(site_code, scan.room, scan.rack),
                seen_at=_local(scan.scanned_at, zone),
                seen_by=_who(scan.scanned_by),
                note="Not in the register.",
            )
        )
    return sheet


def _line(unit, recorded, scan, site_code, zone) -> Line:
    return Line(
        result="",
        tag=unit.asset_tag,
        asset_id=unit.pk,
        model=model_name(unit.hardware_model),
        state=State(unit.state).label,
        recorded=place(*recorded),
        seen=place(site_code, scan.room, scan.rack),
        seen_at=_local(scan.scanned_at, zone),
        seen_by=_who(scan.scanned_by),
    )


def _local(moment: dt.datetime, zone) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


def _who(user) -> str:
    return user.get_username() if user is not None else ""


def last_seen_events():
    """Per asset (OuterRef "pk"), its latest `audited` ledger row."""
    return LifecycleEvent.objects.filter(asset=OuterRef("pk"), kind=EventKind.AUDITED).order_by(
        "-occurred_at", "-id"
    )


def with_last_seen(assets):
    """Assets annotated with when and where an audit last saw them (no query per row)."""
    rows = last_seen_events()
    return assets.annotate(
        seen_at=Subquery(rows.values("occurred_at")[:1]),
        seen_details=Subquery(rows.values("details")[:1]),
    )


@dataclass(frozen=True)
class Seen:
    at: dt.datetime
    where: str
    audit: int | None

    def sentence(self, zone=None) -> str:
        when = timezone.localtime(self.at, zone)
        audit = f" (audit {self.audit})" if self.audit else ""
        return f"last seen {when:%-d %b %Y %H:%M} at {self.where}{audit}"


def last_seen(asset: Asset) -> Seen | None:
    """When and where an audit last saw the unit: from the annotation when there is one."""
    if "_last_seen" not in asset.__dict__:
        asset._last_seen = _last_seen(asset)
    return asset._last_seen


def _last_seen(asset: Asset) -> Seen | None:
    if hasattr(asset, "seen_at"):
        at, details = asset.seen_at, asset.seen_details
        if isinstance(details, str):  # a JSON subquery read back as text by some backends
            details = json.loads(details)
    else:
        row = (
            LifecycleEvent.objects.filter(asset=asset, kind=EventKind.AUDITED)
            .order_by("-occurred_at", "-id")
            .values("occurred_at", "details")
            .first()
        )
        at, details = (row["occurred_at"], row["details"]) if row else (None, None)
    if at is None:
        return None
    details = details or {}
    where = place(
        details.get("seen_site", ""), details.get("seen_room", ""), details.get("seen_rack", "")
    )
    return Seen(at=at, where=where, audit=details.get("audit"))


# --- writing ---------------------------------------------------------------------------------


def _check_writer(user, site: Site) -> None:
    if not permissions.can_write_at(user, site):
        raise PermissionDenied(f"{site.code} is a site you do not operate: you may not audit it.")


def start(*, site: Site, user, room: str = "", rack: str = "", note: str = "") -> Audit:
    """Open an audit of `site` (optionally one room or rack) by one of its operators."""
    _check_writer(user, site)
    audit = Audit(site=site, room=room.strip(), rack=rack.strip(), note=note, started_by=user)
    audit.full_clean()
    audit.save()
    return audit


def _locked_open(audit: Audit) -> Audit:
    audit = Audit.objects.select_for_update().select_related("site").get(pk=audit.pk)
    if audit.status != AuditStatus.OPEN:
        raise AuditError({"status": [f"audit {audit.pk} is {audit.get_status_display().lower()}"]})
    return audit


# What a label's QR code holds: the asset's address, ending in /a/<tag>/ (registry.labels).
ADDRESS = re.compile(r"^https?://[^/]+(?:/[^?#]*)?/a/(?P<tag>[^/?#]+)/?(?:[?#].*)?$")


def clean_tag(raw: str) -> str:
    """The tag as typed, without the whitespace and control characters a scanner may add; a
    label's address (a scanner reading its QR code types it) gives its tag."""
    text = "".join(ch for ch in str(raw) if ch.isprintable()).strip()
    address = ADDRESS.match(text)
    return unquote(address["tag"]) if address else text


@transaction.atomic
def scan(audit: Audit, tag: str, *, user, room: str = "", rack: str = "") -> AuditScan:
    """Record one tag seen. Where: the audit's room and rack, or a narrower one the scanner
    names (a room or rack outside the audit's is refused)."""
    audit = _locked_open(audit)
    _check_writer(user, audit.site)
    tag = clean_tag(tag)
    if not tag:
        raise AuditError({"tag": ["scan or type a tag"]})
    if len(tag) > MAX_TAG:
        raise AuditError({"tag": [f"{len(tag)} characters: no tag is longer than {MAX_TAG}"]})
    where = {"room": room.strip(), "rack": rack.strip()}
    for name, value in where.items():
        fixed = getattr(audit, name)
        if fixed and value and not _same(fixed, value):
            raise AuditError({name: [f"this audit counts {name} {fixed} only"]})
        if len(value) > 50:
            raise AuditError({name: ["at most 50 characters"]})
        where[name] = value or fixed
    unit = Asset.objects.filter(asset_tag=tag).first()
    if unit is None:
        near = list(Asset.objects.filter(asset_tag__iexact=tag)[:2])
        unit = near[0] if len(near) == 1 else None
    return AuditScan.objects.create(
        audit=audit, tag=tag, asset=unit, scanned_by=user, scanned_at=timezone.now(), **where
    )


@transaction.atomic
def cancel(audit: Audit, *, user) -> Audit:
    """Stop an audit without recording anything; its scans are kept."""
    audit = _locked_open(audit)
    _check_writer(user, audit.site)
    audit.status, audit.ended_by, audit.ended_at = AuditStatus.CANCELLED, user, timezone.now()
    audit.save(update_fields=["status", "ended_by", "ended_at"])
    return audit


@transaction.atomic
def close(audit: Audit, *, user, move: set[str] | frozenset = frozenset()) -> Audit:
    """Record what was seen and close the audit, all or nothing, now.

    Each unit seen and in custody gets an `audited` event at the time of its last scan; each
    misplaced unit whose tag is in `move` first gets a `moved` event to where it was seen.
    Any refusal (a rule of the ledger, a unit recorded at a site the closer does not operate
    that they asked to move) leaves the ledger and the audit as they were: AuditError names
    each tag and why.
    """
    audit = _locked_open(audit)
    _check_writer(user, audit.site)
    return _record(audit, user=user, move=frozenset(move))


def units_seen(audit: Audit) -> int:
    """How many units a close would go through (each registered unit scanned, once)."""
    return audit.scans.filter(asset__isnull=False).values("asset_id").distinct().count()


def request_close(
    audit: Audit, *, user, move: set[str] | frozenset = frozenset()
) -> tuple[Audit, bool]:
    """Close the audit as `close` does: in this request when at most AUDIT_CLOSE_INLINE_MAX
    units were seen, else by a worker. The audit and whether a worker has it.

    Queued, the audit is `closing` until the worker ends: closed, or open again with the reason
    in `close_failure` and nothing recorded. A tick that cannot be moved is refused here, before
    queueing. Call it outside a transaction: the worker must find the `closing` state committed.
    NotQueued when the broker cannot be reached (the audit stays open, nothing recorded).
    """
    from registry.tasks import close_audit  # tasks import this module

    move = frozenset(move)
    with transaction.atomic():
        audit = _locked_open(audit)
        _check_writer(user, audit.site)
        if units_seen(audit) <= settings.AUDIT_CLOSE_INLINE_MAX:
            return _record(audit, user=user, move=move), False
        _check_moves(classify(audit, user), move)
        audit.status = AuditStatus.CLOSING
        audit.close_requested_by, audit.close_requested_at = user, timezone.now()
        audit.close_moves, audit.close_failure = sorted(move), ""
        audit.save(
            update_fields=[
                "status",
                "close_requested_by",
                "close_requested_at",
                "close_moves",
                "close_failure",
            ]
        )
    try:
        close_audit.apply_async(args=[audit.pk])
    except Exception as exc:
        log.exception("the close of audit %s could not be queued", audit.pk)
        _reopen(audit.pk, NOT_QUEUED)
        raise NotQueued(NOT_QUEUED) from exc
    audit.refresh_from_db()
    return audit, True


def run_close(audit_id: int) -> Audit | None:
    """A worker's close of a `closing` audit, as its requester (None when it is not closing:
    closed or reopened already). Every event and the closed state in one transaction; any
    refusal or failure reopens the audit with the reason, nothing recorded."""
    try:
        with transaction.atomic():
            audit = (
                Audit.objects.select_for_update()
                .select_related("site")
                .filter(pk=audit_id, status=AuditStatus.CLOSING)
                .first()
            )
            if audit is None:
                return None
            user = audit.close_requested_by
            _check_writer(user, audit.site)  # still an operator of the site?
            return _record(audit, user=user, move=frozenset(audit.close_moves))
    except AuditError as exc:
        reason = "; ".join(
            message if name in ("__all__", "status") else f"{name}: {message}"
            for name, messages in exc.message_dict.items()
            for message in messages
        )
    except PermissionDenied as exc:
        reason = str(exc)
    except Exception:
        log.exception("the close of audit %s failed", audit_id)
        reason = FAILED
    _reopen(audit_id, reason)
    return None


def reopen_lost(now=None) -> int:
    """Open again the audits a worker was asked to close and did not within JOB_MAX_SECONDS (a
    worker killed, a message lost); their count. A close still running holds the audit's row
    (PostgreSQL), so it ends before this looks and is not reopened."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.JOB_MAX_SECONDS)
    lost = Audit.objects.filter(status=AuditStatus.CLOSING, close_requested_at__lt=cutoff)
    return sum(_reopen(pk, LOST) for pk in lost.values_list("pk", flat=True))


def _reopen(audit_id: int, reason: str) -> int:
    return Audit.objects.filter(pk=audit_id, status=AuditStatus.CLOSING).update(
        status=AuditStatus.OPEN,
        close_failure=reason,
        close_moves=[],
        close_requested_by=None,
        close_requested_at=None,
    )


def _check_moves(sheet: Sheet, move: frozenset) -> None:
    misplaced = {line.tag: line for line in sheet.misplaced}
    wrong = {}
    for tag in sorted(set(move)):
        line = misplaced.get(tag)
        if line is None:
            wrong[tag] = ["was not seen as misplaced in this audit: there is nothing to move"]
        elif not line.movable:
            wrong[tag] = [f"cannot be moved here: {line.note[:1].lower()}{line.note[1:]}"]
    if wrong:
        raise AuditError(wrong)


def _record(audit: Audit, *, user, move: frozenset) -> Audit:
    """The close itself, on an audit locked by the caller's transaction."""
    sheet = classify(audit, user)
    _check_moves(sheet, move)
    last_scans = {}
    for scan_row in audit.scans.filter(asset__isnull=False).order_by("scanned_at", "id"):
        last_scans[scan_row.asset_id] = scan_row
    refused = {}
    for line in sheet.found + sheet.misplaced:
        unit = Asset.objects.select_related("site").get(pk=line.asset_id)
        if unit.state not in ON_SITE:
            line.recorded_events = "reported only"
            continue
        moving = line.tag in move
        if not moving and not permissions.can_record(user, EventKind.AUDITED, unit.site):
            line.recorded_events = "not recorded: at a site you do not operate"
            line.note = line.note or f"Recorded at {unit.site.code}, a site you do not operate."
            continue
        seen = last_scans[line.asset_id]
        try:
            with transaction.atomic():
                if moving:
                    _record_move(unit, seen, audit, user)
                services.record_event(
                    unit,
                    EventKind.AUDITED,
                    occurred_at=seen.scanned_at,
                    actor=user,
                    details={
                        "audit": audit.pk,
                        "seen_site": audit.site.code,
                        "seen_room": seen.room,
                        "seen_rack": seen.rack,
                    },
                )
        except services.LifecycleError as exc:
            refused[line.tag] = [m for messages in exc.message_dict.values() for m in messages]
            continue
        line.recorded_events = "moved, seen" if moving else "seen"
    if refused:
        raise AuditError(refused)
    audit.status, audit.ended_by, audit.ended_at = AuditStatus.CLOSED, user, timezone.now()
    audit.outcome = sheet.as_json()
    audit.close_moves, audit.close_failure = [], ""
    audit.save(
        update_fields=["status", "ended_by", "ended_at", "outcome", "close_moves", "close_failure"]
    )
    return audit


def _record_move(unit: Asset, seen: AuditScan, audit: Audit, user) -> None:
    details = {"note": f"found in audit {audit.pk}"}
    if unit.site_id != audit.site_id:
        details["site"] = audit.site.code
    for name in ("room", "rack"):
        value = getattr(seen, name)
        if value and not _same(value, getattr(unit, name)):
            details[name] = value
    services.record_event(
        unit, EventKind.MOVED, occurred_at=seen.scanned_at, actor=user, details=details
    )
