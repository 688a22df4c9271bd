"""Benchmark fleets made through the product's own writers, ledger rows and all.

`register` takes rows through the bulk importer (`registry.importing.import_assets`: the assets,
their history rows and their `purchased` ledger rows, every row through the rules of
`registration.new_asset`). `live` then takes each group of assets that shares a life story
(commissioned; decommissioned; sold …) through it: the story is recorded on the group's first
asset by `services.record_event` — every rule of the lifecycle table and the ledger invariants —
and the ledger rows it wrote after the purchase are copied, in order, onto the rest of the group
(one INSERT … SELECT per story and batch, with each asset's own site and data flag, as the writer
would have recorded them), their asset rows brought in step in one UPDATE. `assemble` does the
same for trees: one parent per group gets its components installed and its story recorded by
`services` itself (the components follow it, as the writer cascades them), and its tree's rows
are copied onto the group's other trees. Every asset then carries a ledger the product wrote for
an asset like it: `check` runs `check_ledger`'s rules over the fleet.

Not copied: the asset's change history of the story's events (the purchase's history row is
written by the importer); no benchmark reads it.
"""

import contextlib
import csv
import datetime as dt
import io
from collections import defaultdict

from django.db import DatabaseError, connection, transaction

from registry import invariants, services
from registry.importing import ASSET_COLUMNS, import_assets
from registry.lifecycle import EventKind, State
from registry.models import Asset, LifecycleEvent

BATCH = 100_000  # rows per import (each its own transaction, as an operator would split a file)
COPY_BATCH = 5_000
COLUMNS = ASSET_COLUMNS  # the importer's own header; columns a fleet leaves out stay blank
PURCHASE = {
    "purchase_date": "2024-03-01",
    "purchase_price": "1234.50",
    "currency": "EUR",
    "supplier": "Bench Supplies",
}


def _day(n: int) -> dt.datetime:
    """The story's n-th moment, well after every purchase (2024-03-01 at any site)."""
    return dt.datetime(2024, 6, 1, 10, tzinfo=dt.UTC) + dt.timedelta(days=n)


_SERVICE = (EventKind.COMMISSIONED, {"workload": "training"}, None)
# The final state -> the events that lead there from in stock: (kind, details, to_state).
STORIES = {
    State.IN_STOCK: (),
    State.ORDERED: (),  # imported as ordered
    State.IN_SERVICE: (_SERVICE,),
    State.AWAITING_DISPOSITION: (
        _SERVICE,
        (EventKind.DECOMMISSIONED, {"reason": "end of life"}, None),
    ),
    State.RESERVED: (
        (EventKind.RESERVED_FOR_REUSE, {"reserved_by": "bench", "purpose": "reuse"}, None),
    ),
    State.SOLD: (
        (EventKind.SOLD, {"counterparty": "Bench Buyer", "price": "100", "currency": "EUR"}, None),
    ),
    State.RECYCLED: (
        (
            EventKind.SENT_TO_RECYCLER,
            {"recycler": "Bench Recycling", "certification": "r2v3", "consignment_ref": "C-1"},
            None,
        ),
        (
            EventKind.RECYCLED,
            {"certificate_ref": "CR-1", "weee_category": "6", "weighed_mass_kg": "1.2"},
            None,
        ),
    ),
}


def register(rows) -> int:
    """Register `rows` (dicts of import columns; blanks may be left out) through the importer,
    in files of `BATCH` rows. The number registered."""
    created, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            created += _import(batch)
            batch = []
    return created + (_import(batch) if batch else 0)


def _import(rows: list[dict]) -> int:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({**PURCHASE, "state": State.IN_STOCK, **row})
    upload = io.BytesIO(text.getvalue().encode())
    upload.name = "fleet.csv"
    report = import_assets(upload)
    if not report.ok:
        raise RuntimeError(f"the fleet's file was refused: {report.errors[:3]}")
    return report.created


def live(final_states: dict[str, str]) -> None:
    """Take each asset (by tag) from in stock to its final state through its story; the group
    of a story is split by the assets' data flag (a rule may read it)."""
    groups = defaultdict(list)
    for tag, pk, flag in Asset.objects.order_by("id").values_list(
        "asset_tag", "id", "data_bearing"
    ):
        state = final_states.get(tag)
        if state and STORIES[state]:
            groups[state, flag].append(pk)
    for (state, _), ids in groups.items():
        _live_ids(STORIES[state], ids)


def _live_ids(story, ids: list[int]) -> None:
    template, rest = ids[0], ids[1:]
    with transaction.atomic():
        first = Asset.objects.get(pk=template)
        for n, (kind, details, to_state) in enumerate(story):
            services.record_event(
                first, kind, occurred_at=_day(n), to_state=to_state, details=dict(details)
            )
        _copy(template, rest)


def _copy(template: int, ids: list[int]) -> None:
    """The template's ledger rows after its purchase onto `ids`, then their asset rows in step
    (the database checks that each asset's state is its last ledger row's)."""
    ledger, assets = LifecycleEvent._meta.db_table, Asset._meta.db_table
    events = list(
        LifecycleEvent.objects.filter(asset_id=template)
        .exclude(kind=EventKind.PURCHASED)
        .order_by("occurred_at", "id")
        .values_list("id", flat=True)
    )
    if not events:
        return
    with connection.cursor() as cursor:
        for start in range(0, len(ids), COPY_BATCH):
            chunk = ids[start : start + COPY_BATCH]
            marks = ", ".join(["%s"] * len(chunk))
            for event in events:  # one statement per row of the story keeps the ledger's order
                cursor.execute(
                    f"INSERT INTO {ledger} (asset_id, kind, occurred_at, recorded_at, actor_id, "  # noqa: S608
                    "state_before, state_after, details, site_id, sanitisation_method, "
                    "data_bearing) SELECT a.id, e.kind, e.occurred_at, e.recorded_at, e.actor_id, "
                    "e.state_before, e.state_after, e.details, a.site_id, e.sanitisation_method, "
                    f"a.data_bearing FROM {assets} a, {ledger} e "
                    f"WHERE e.id = %s AND a.id IN ({marks}) ORDER BY a.id",
                    [event, *chunk],
                )
            cursor.execute(
                f"UPDATE {assets} SET state = (SELECT state FROM {assets} WHERE id = %s), "  # noqa: S608
                f"workload = (SELECT workload FROM {assets} WHERE id = %s) "
                f"WHERE id IN ({marks})",
                [template, template, *chunk],
            )


def assemble(parents: dict[str, list[str]], final_states: dict[str, str]) -> None:
    """Install each parent's components (tags) in it and take the parent to its final state.

    Parents that share a final state (and the data flags of their units) are one group: the
    first is assembled and taken through its story by `services` itself, its components
    following it as the writer cascades them; the ledger rows of its whole tree are then copied
    onto the other trees of the group, unit by unit, with each unit's own tag, site and parent."""
    tags = [*parents, *(tag for parts in parents.values() for tag in parts)]
    by_tag = Asset.objects.in_bulk(tags, field_name="asset_tag")
    groups = defaultdict(list)
    for parent, parts in parents.items():
        tree = [by_tag[parent], *(by_tag[tag] for tag in parts)]
        groups[final_states[parent], tuple(unit.data_bearing for unit in tree)].append(tree)
    for (state, _), trees in groups.items():
        template, *copies = trees
        parent, parts = template[0], template[1:]
        with transaction.atomic():
            services.install_components(
                parent, [(unit, f"slot {i}") for i, unit in enumerate(parts)], occurred_at=_day(-1)
            )
            for n, (kind, details, to_state) in enumerate(STORIES[state]):
                services.record_event(
                    parent, kind, occurred_at=_day(n), to_state=to_state, details=dict(details)
                )
            if copies:
                _copy_tree(template, copies)


def _copy_tree(template: list[Asset], copies: list[list[Asset]]) -> None:
    """The ledger rows the writer recorded on `template` (a parent, then its components) after
    their purchases, onto each tree of `copies` (same shape), then their asset rows in step."""
    position = {unit.pk: i for i, unit in enumerate(template)}
    by_tag = {unit.asset_tag: i for i, unit in enumerate(template)}
    events = list(
        LifecycleEvent.objects.filter(asset_id__in=position)
        .exclude(kind=EventKind.PURCHASED)
        .order_by("id")
    )
    index = {event.pk: i for i, event in enumerate(events)}
    new_ids = [[0] * len(events) for _ in copies]
    for i, event in enumerate(events):
        rows = []
        for tree, ids in zip(copies, new_ids, strict=True):
            unit = tree[position[event.asset_id]]
            details = dict(event.details)
            for key in ("parent", "from_parent"):  # a tag of the template's tree: this tree's
                if details.get(key) in by_tag:
                    details[key] = tree[by_tag[details[key]]].asset_tag
            rows.append(
                LifecycleEvent(
                    asset_id=unit.pk,
                    kind=event.kind,
                    occurred_at=event.occurred_at,
                    actor_id=event.actor_id,
                    state_before=event.state_before,
                    state_after=event.state_after,
                    details=details,
                    caused_by_id=ids[index[event.caused_by_id]] if event.caused_by_id else None,
                    site_id=unit.site_id,
                    sanitisation_method=event.sanitisation_method,
                    data_bearing=event.data_bearing,
                )
            )
        LifecycleEvent.objects.bulk_create(rows, batch_size=COPY_BATCH)
        for ids, row in zip(new_ids, rows, strict=True):
            ids[i] = row.pk
    final = Asset.objects.in_bulk([unit.pk for unit in template])
    changed = []
    for tree in copies:
        for unit, model in zip(tree, template, strict=True):
            done = final[model.pk]
            unit.state, unit.workload = done.state, done.workload
            unit.data_bearing = done.data_bearing
            unit.parent_id = tree[position[done.parent_id]].pk if done.parent_id else None
            changed.append(unit)
    Asset.objects.bulk_update(
        changed, ["state", "workload", "data_bearing", "parent"], batch_size=COPY_BATCH
    )


def check() -> list:
    """What `check_ledger` finds broken in the fleet (nothing, for a fleet the product made)."""
    return invariants.check()


TABLES = ["registry_lifecycleevent", "registry_historicalasset", "registry_asset"]


def wipe(*tables: str) -> None:
    """Empty the fleet's tables (and `tables`, which refer to them) and re-analyse them.

    The ledger refuses DELETE (trigger + queryset); the benchmark database is throwaway, so it is
    cleared below the ORM (TRUNCATE on PostgreSQL; on SQLite with the trigger out of the way,
    inside one transaction)."""
    every = [*tables, *TABLES]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred check left pending
            cursor.execute(f"TRUNCATE {', '.join(every)} RESTART IDENTITY CASCADE")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS registry_ledger_no_delete")
            for table in every:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names
            cursor.execute(
                "CREATE TRIGGER registry_ledger_no_delete BEFORE DELETE ON registry_lifecycleevent "
                "BEGIN SELECT RAISE(ABORT, 'lifecycle ledger is append-only'); END;"
            )
    analyse(*every)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with contextlib.suppress(DatabaseError):  # needs superuser or pg_checkpoint
                cursor.execute("CHECKPOINT")


def analyse(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables or TABLES:
            cursor.execute(f"ANALYZE {table}")
