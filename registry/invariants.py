"""The chain-of-custody rules as invariants of the whole ledger: replay, compare, list what is
broken.

Each asset's ledger is replayed in its total order (the time it happened, then the order of
recording) and the stored facts are compared with what the replay says. One function, asked from
three places: the writer before it commits (`registry.services.record_event`), the
`check_ledger` command against a live database, and the stateful test after every random step.

The rules, in plain words (docs/registry.md lists them for users):

- ledger: every asset has a ledger that starts with its registration (`purchased`,
  `inventoried`); each row starts from the state the previous one left; rows are recorded in
  time order; no row lies before the registry's floor or after the moment it was recorded.
- projection: the asset's stored state, site and parent are those its ledger leads to.
- data: a unit whose model holds data is data-bearing; a unit once recorded as holding data stays
  so.
- custody: a unit released (sold, donated, returned, sent to a recycler, recycled; by any event,
  a correction included, or inside a parent that was released) while it held data was not in
  service, nor inside a unit in service, and had a passed sanitisation recorded after the last
  moment it could receive data, by a method the strictest policy of every site where it held data
  accepts, not corrected before the release.
- assembly: a component in custody is in service exactly when its parent is, is in custody
  exactly when its parent is, and is at its parent's site.
- dates: an asset's purchase date lies between the floor and today; its warranty end and planned
  end of life between the floor and the latest planned date.
"""

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import (
    BooleanField,
    Case,
    DateTimeField,
    ExpressionWrapper,
    F,
    Q,
    Value,
    When,
)
from django.utils import timezone

from circulus import bounds
from registry.lifecycle import (
    IN_CUSTODY,
    LATEST_PLANNED,
    MOVES,
    EventKind,
    SanitisationMethod,
    State,
    releases,
)
from registry.models import Asset, LifecycleEvent, SanitisationPolicy, Site

LINKS = (EventKind.COMPONENT_INSTALLED, EventKind.COMPONENT_REMOVED)


@dataclass(frozen=True)
class Finding:
    """One broken rule: which asset, which rule, the ledger row concerned (if one), and why."""

    asset_tag: str
    rule: str
    sentence: str
    event_id: int | None = None

    def __str__(self) -> str:
        return f"{self.asset_tag}: {self.rule}: {self.sentence}"


@dataclass(frozen=True)
class _Row:
    id: int
    asset_id: int
    kind: str
    at: dt.datetime
    recorded_at: dt.datetime
    before: str
    after: str
    site_id: int
    details: dict
    corrects_id: int | None
    method: str
    data_bearing: bool | None

    @property
    def key(self) -> tuple:
        return (self.at, self.id)

    @property
    def leaves_service(self) -> bool:
        return self.before == State.IN_SERVICE and self.after != State.IN_SERVICE

    @property
    def parts(self) -> bool:
        """Ends an installation: a removal, or the unit left a parent on its own."""
        return "from_parent" in (self.details or {})


_ROW_FIELDS = (
    "id",
    "asset_id",
    "kind",
    "occurred_at",
    "recorded_at",
    "state_before",
    "state_after",
    "site_id",
    "details",
    "corrects_id",
    "sanitisation_method",
    "data_bearing",
)


def check(assets=None) -> list[Finding]:
    """Every broken rule among `assets` (a queryset; None: the whole fleet), in asset order."""
    return _Fleet(assets).findings()


class _Fleet:
    def __init__(self, assets):
        self.whole = assets is None
        scope = Asset.objects.all() if assets is None else assets.order_by()
        self.bad_dates = self._dates(scope)
        self.units = self._load_units(scope)
        self.checked = set(self.units)
        self.rows: dict[int, list[_Row]] = defaultdict(list)
        self.bad_rows = self._load_rows(None if self.whole else list(self.units))
        # Units these were ever installed in (their service exposed the components' data).
        for _ in range(0 if self.whole else 10):
            tags = {
                r.details.get("parent")
                for rows in self.rows.values()
                for r in rows
                if r.kind == EventKind.COMPONENT_INSTALLED
            } - {u["asset_tag"] for u in self.units.values()}
            more = self._load_units(Asset.objects.filter(asset_tag__in=tags)) if tags else {}
            if not more:
                break
            self.units |= more
            self.bad_rows += self._load_rows(list(more))
        self.by_tag = {u["asset_tag"]: pk for pk, u in self.units.items()}
        for rows in self.rows.values():
            rows.sort(key=lambda r: r.key)
        self.keys = {pk: [r.key for r in rows] for pk, rows in self.rows.items()}
        self.spans = {pk: self._installations(pk) for pk in self.units}
        self.children = defaultdict(list)
        for child, spans in self.spans.items():
            for parent, start, end in spans:
                self.children[parent].append((child, start, end))
        self._policies = None

    @property
    def policies(self):
        if self._policies is None:
            self._policies = _PolicyHistory()
        return self._policies

    # --- loading ---------------------------------------------------------------------------------

    @staticmethod
    def _load_units(queryset) -> dict:
        return {
            row["id"]: row
            for row in queryset.values(
                "id",
                "asset_tag",
                "state",
                "site_id",
                "parent_id",
                "data_bearing",
                holds_data=F("hardware_model__holds_data"),
                site_code=F("site__code"),
            )
        }

    def _load_rows(self, ids) -> list:
        """Rows of `ids` (None: every row), in one query; a row outside the time bounds is listed
        apart and its time never read (a BC timestamp is one PostgreSQL keeps and Python cannot
        hold)."""
        events = LifecycleEvent.objects.all()
        if ids is not None:
            events = events.filter(asset_id__in=ids)
        outside = Q(occurred_at__lt=bounds.earliest()) | Q(occurred_at__gt=F("recorded_at"))
        safe_at = Case(
            When(outside, then=Value(None)), default=F("occurred_at"), output_field=DateTimeField()
        )
        fields = ["safe_at" if f == "occurred_at" else f for f in _ROW_FIELDS]
        bad = []
        for values in events.annotate(safe_at=safe_at).values_list(*fields):
            row = _Row(*values)
            if row.at is None:
                bad.append((row.id, self.units[row.asset_id]["asset_tag"]))
            else:
                self.rows[row.asset_id].append(row)
        return bad

    @staticmethod
    def _dates(scope) -> list:
        today, floor = timezone.localdate(), bounds.time_floor()
        dates = {"purchase_date": Q(purchase_date__lt=floor) | Q(purchase_date__gt=today)}
        for field in ("warranty_end", "support_end", "planned_eol"):
            dates[field] = Q(**{f"{field}__lt": floor}) | Q(**{f"{field}__gt": LATEST_PLANNED})
        any_out = Q()
        for q in dates.values():
            any_out |= q
        found = scope.filter(any_out).annotate(
            **{
                f"out_{field}": ExpressionWrapper(q, output_field=BooleanField())
                for field, q in dates.items()
            }
        )
        return [
            (row["asset_tag"], field)
            for row in found.values("asset_tag", *(f"out_{f}" for f in dates))
            for field in dates
            if row[f"out_{field}"]
        ]

    def _installations(self, pk) -> list[tuple]:
        """(parent id, start key, end key or None) for each time the unit was installed."""
        spans, current = [], None
        for row in self.rows.get(pk, ()):
            if row.kind == EventKind.COMPONENT_INSTALLED:
                current = (self.by_tag.get(row.details.get("parent")), row.key)
            elif row.parts and current is not None:
                spans.append((*current, row.key))
                current = None
        if current is not None:
            spans.append((*current, None))
        return spans

    # --- replay ---------------------------------------------------------------------------------

    def _state_before(self, pk, key) -> str | None:
        rows = self.rows.get(pk, [])
        i = bisect.bisect_left(self.keys.get(pk, []), key)
        return rows[i - 1].after if i else None

    def _last_before(self, pk, key) -> _Row | None:
        rows = self.rows.get(pk, [])
        i = bisect.bisect_left(self.keys.get(pk, []), key)
        return rows[i - 1] if i else None

    def _exposure(self, pk, key, *, own=True, low=None, depth=0) -> tuple:
        """(the last row before `key` after which the unit could receive data, whether it could
        still at `key`): its own service and installations, and its parents' service while it
        was inside them (at any depth)."""
        best = None
        for row in self.rows.get(pk, ()):
            if row.key >= key or (low is not None and row.key <= low):
                continue
            if row.leaves_service or (own and (row.kind in LINKS or row.parts)):
                best = row if best is None or row.key > best.key else best
        ongoing = self._state_before(pk, key) == State.IN_SERVICE
        if depth >= 10:
            return best, ongoing
        for parent, start, end in self.spans.get(pk, ()):
            if parent is None or start >= key or (low is not None and end and end <= low):
                continue
            high = key if end is None or end > key else end
            found, running = self._exposure(
                parent, high, own=False, low=max(low, start) if low else start, depth=depth + 1
            )
            if found is not None and (best is None or found.key > best.key):
                best = found
            if end is None or end >= key:
                ongoing = ongoing or running
        return best, ongoing

    def _inside(self, pk, key, depth=0) -> list[int]:
        """Units installed in `pk` at `key` (at any depth)."""
        found = [
            child
            for child, start, end in self.children.get(pk, ())
            if start < key and (end is None or end >= key)
        ]
        if depth < 10:
            for child in list(found):
                found += [c for c in self._inside(child, key, depth + 1) if c not in found]
        return found

    # --- the rules -----------------------------------------------------------------------------

    def findings(self) -> list[Finding]:
        out = [
            Finding(tag, "dates", f"event {pk} lies outside the registry's time bounds", pk)
            for pk, tag in self.bad_rows
        ]
        out += [
            Finding(tag, "dates", f"{field} lies outside the registry's time bounds")
            for tag, field in self.bad_dates
        ]
        for pk in sorted(self.checked):
            out += self._unit(pk)
        unique, seen = [], set()
        for finding in out:
            if (finding.asset_tag, finding.rule, finding.sentence) not in seen:
                seen.add((finding.asset_tag, finding.rule, finding.sentence))
                unique.append(finding)
        return unique

    def _unit(self, pk) -> list[Finding]:
        unit, rows = self.units[pk], self.rows.get(pk, [])
        tag = unit["asset_tag"]
        out = []
        if not rows:
            return [Finding(tag, "ledger", "has no ledger rows")]
        if MOVES[rows[0].kind].sources:  # not a registration (purchased, inventoried)
            out.append(
                Finding(tag, "ledger", f"its ledger starts with '{rows[0].kind}'", rows[0].id)
            )
        for previous, row in zip(rows, rows[1:], strict=False):
            if row.id < previous.id:
                out.append(
                    Finding(tag, "ledger", f"event {row.id} was recorded out of time order", row.id)
                )
            if row.before != previous.after:
                out.append(
                    Finding(
                        tag,
                        "ledger",
                        f"event {row.id} ({row.kind}) starts from '{row.before}', but the row "
                        f"before it left '{previous.after}'",
                        row.id,
                    )
                )
        out += self._projection(pk, unit, rows)
        out += self._data(unit, rows)
        out += self._assembly(unit)
        for row in rows:
            if releases(row.before or None, row.after):
                out += self._release(pk, row)
        return out

    def _projection(self, pk, unit, rows) -> list[Finding]:
        tag, last, out = unit["asset_tag"], rows[-1], []
        if unit["state"] != last.after:
            out.append(
                Finding(
                    tag,
                    "projection",
                    f"stored state '{unit['state']}' differs from its ledger's '{last.after}'",
                )
            )
        if unit["site_id"] != last.site_id:
            out.append(
                Finding(tag, "projection", "stored site differs from its ledger's last row's")
            )
        spans = self.spans.get(pk, [])
        replayed = spans[-1][0] if spans and spans[-1][2] is None else None
        if unit["parent_id"] != replayed and not self._renamed(pk, unit["parent_id"]):
            out.append(
                Finding(tag, "projection", "stored parent differs from the one its ledger says")
            )
        return out

    def _renamed(self, pk, stored) -> bool:
        """The stored parent is the one installed, under a tag it had then."""
        spans = self.spans.get(pk, [])
        if stored is None or not spans or spans[-1][2] is not None:
            return False
        installed = [r for r in self.rows[pk] if r.kind == EventKind.COMPONENT_INSTALLED][-1]
        return Asset.history.filter(id=stored, asset_tag=installed.details.get("parent")).exists()

    def _data(self, unit, rows) -> list[Finding]:
        tag = unit["asset_tag"]
        if unit["data_bearing"]:
            return []
        if unit["holds_data"]:
            return [Finding(tag, "data", "its model holds data, but it is not marked data-bearing")]
        if any(r.data_bearing for r in rows):
            return [Finding(tag, "data", "its ledger recorded it holding data; the mark is gone")]
        return []

    def _assembly(self, unit) -> list[Finding]:
        parent = self.units.get(unit["parent_id"]) if unit["parent_id"] else None
        if parent is None:
            return []
        tag, state, outer = unit["asset_tag"], unit["state"], parent["state"]
        if (state in IN_CUSTODY) != (outer in IN_CUSTODY):
            return [
                Finding(
                    tag,
                    "assembly",
                    f"is {state} inside '{parent['asset_tag']}', which is {outer}",
                )
            ]
        out = []
        if state in IN_CUSTODY and (state == State.IN_SERVICE) != (outer == State.IN_SERVICE):
            out.append(
                Finding(
                    tag,
                    "assembly",
                    f"is {state} inside '{parent['asset_tag']}', which is {outer}: a component "
                    "is in service exactly when its parent is",
                )
            )
        if state in IN_CUSTODY and unit["site_id"] != parent["site_id"]:
            out.append(
                Finding(
                    tag,
                    "assembly",
                    f"is at {unit['site_code']} inside '{parent['asset_tag']}', which is at "
                    f"{parent['site_code']}: a component is where its parent is",
                )
            )
        return out

    def _release(self, pk, row) -> list[Finding]:
        out = []
        unit = self.units[pk]
        held = row.data_bearing if row.data_bearing is not None else self._holds(pk)
        if held:
            out += self._sanitised(pk, row, row.key, row.recorded_at, "")
        for child in self._inside(pk, row.key):
            if self._held_at(child, row.key):
                via = f" (inside '{unit['asset_tag']}', {row.kind} as event {row.id})"
                out += self._sanitised(child, row, row.key, row.recorded_at, via)
        return out

    def _holds(self, pk) -> bool:
        return bool(self.units[pk]["data_bearing"] or self.units[pk]["holds_data"])

    def _held_at(self, pk, key) -> bool:
        last = self._last_before(pk, key)
        if last is None:
            return False
        return last.data_bearing if last.data_bearing is not None else self._holds(pk)

    def _sanitised(self, pk, release, key, when, via) -> list[Finding]:
        tag = self.units[pk]["asset_tag"]
        since, ongoing = self._exposure(pk, key)
        if ongoing:
            return [
                Finding(
                    tag,
                    "custody",
                    f"left custody{via} holding data while in service (or inside a unit in "
                    "service)",
                    release.id,
                )
            ]
        if since is None:
            return []
        policy = self._policy(pk, since, key, when)
        methods = (
            {SanitisationMethod.DESTROY}
            if policy == SanitisationPolicy.DESTROY
            else {SanitisationMethod.PURGE, SanitisationMethod.DESTROY}
        )
        rows = self.rows.get(pk, [])
        corrected = {r.corrects_id for r in rows if r.key < key and r.corrects_id}
        for row in rows:
            if (
                since.key < row.key < key
                and row.kind == EventKind.SANITISED
                and row.method in methods
                and (row.details or {}).get("verification") == "passed"
                and row.id not in corrected
            ):
                return []
        return [
            Finding(
                tag,
                "custody",
                f"left custody{via} holding data with no passed sanitisation "
                f"({' or '.join(sorted(methods))}, site policy {policy}) after its exposure "
                f"in event {since.id} ({since.kind})",
                release.id,
            )
        ]

    def _policy(self, pk, since, key, when) -> str:
        rows = [r for r in self.rows.get(pk, []) if r.key < key]
        starts = [r for r in rows if r.after == State.IN_SERVICE or r.kind in LINKS[:1]]
        first = starts[0].key if starts else since.key
        sites = {r.site_id for r in rows if r.key >= first}
        if rows:
            sites.add(rows[-1].site_id)
        policies = {self.policies.at(site, when) for site in sites}
        return SanitisationPolicy.DESTROY if SanitisationPolicy.DESTROY in policies else "nist"


class _PolicyHistory:
    """Each site's sanitisation policy as it stood at a moment (from the site's change history;
    the current policy where none was kept)."""

    def __init__(self):
        self.current = dict(Site.objects.values_list("pk", "sanitisation_policy"))
        self.changes = defaultdict(list)
        for site_id, when, policy in Site.history.order_by("history_date").values_list(
            "id", "history_date", "sanitisation_policy"
        ):
            self.changes[site_id].append((when, policy))

    def at(self, site_id, when) -> str:
        policy = None
        for changed, value in self.changes.get(site_id, ()):
            if changed > when:
                break
            policy = value
        return policy or self.current.get(site_id, SanitisationPolicy.NIST)
