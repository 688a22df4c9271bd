"""The asset tags of one page of candidates: a bounded second query, in SQL on PostgreSQL and
through the ORM elsewhere."""

from __future__ import annotations

from django.db import connection
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber

from registry.models import Asset

TAGS_PER_GROUP = 8  # asset tags listed per candidate row (the page's second, bounded query)

_TAG_FIELDS = ("id", "asset_tag", "state", "hardware_model_id", "parent_id", "site_id")
# The first assets of each loose (model, site) group of a page, through the
# (hardware_model, site, id) index: cost grows with the page, not with the groups.
_LOOSE_TAGS_SQL = """
SELECT a.id, a.asset_tag, a.state, a.hardware_model_id, a.parent_id, a.site_id, NULL
FROM unnest(%s::bigint[], %s::bigint[]) AS k(hw, site)
CROSS JOIN LATERAL (
    SELECT id, asset_tag, state, hardware_model_id, parent_id, site_id FROM registry_asset
    WHERE hardware_model_id = k.hw AND site_id = k.site AND parent_id IS NULL
      AND state = ANY(%s)
    ORDER BY id LIMIT %s
) a
"""
_SERVER_TAGS_SQL = """
SELECT a.id, a.asset_tag, a.state, a.hardware_model_id, a.parent_id, a.site_id, p.asset_tag
FROM registry_asset a JOIN registry_asset p ON p.id = a.parent_id
WHERE a.parent_id = ANY(%s) AND a.state = ANY(%s)
"""


def tags_for(c: dict, positions, states: list[str]) -> dict:
    """Up to TAGS_PER_GROUP asset tags per page row, in two queries whatever the group sizes.

    A bulk import puts thousands of identical cards in one group: on PostgreSQL each loose
    group reads only its first few assets (a lateral join through an index), and servers read
    their components; other databases take the portable path of `_tags_rows_orm`.
    """
    if len(positions) == 0:
        return {}
    if connection.vendor == "postgresql":
        rows = _tags_rows_postgres(c, positions, states)
    else:
        rows = _tags_rows_orm(c, positions, states)
    wanted = {
        (int(c["hardware_model_id"][i]), int(c["parent_id"][i]), int(c["site_id"][i]))
        for i in positions
    }
    out: dict = {}
    for r in sorted(rows, key=lambda r: r["id"]):
        key = (
            r["hardware_model_id"],
            -1 if r["parent_id"] is None else r["parent_id"],
            r["site_id"],
        )
        if key not in wanted:
            continue
        entry = out.setdefault(key, {"parent": r["parent__asset_tag"], "assets": []})
        if len(entry["assets"]) < TAGS_PER_GROUP:
            entry["assets"].append(
                {"id": r["id"], "asset_tag": r["asset_tag"], "state": r["state"]}
            )
    return out


def _tags_rows_postgres(c: dict, positions, states: list[str]) -> list[dict]:
    loose = [i for i in positions if c["parent_id"][i] < 0]
    servers = sorted({int(c["parent_id"][i]) for i in positions if c["parent_id"][i] >= 0})
    found = []
    with connection.cursor() as cur:
        if loose:
            cur.execute(
                _LOOSE_TAGS_SQL,
                [
                    [int(c["hardware_model_id"][i]) for i in loose],
                    [int(c["site_id"][i]) for i in loose],
                    list(states),
                    TAGS_PER_GROUP,
                ],
            )
            found += cur.fetchall()
        if servers:
            cur.execute(_SERVER_TAGS_SQL, [servers, list(states)])
            found += cur.fetchall()
    return [dict(zip((*_TAG_FIELDS, "parent__asset_tag"), row, strict=True)) for row in found]


def _tags_rows_orm(c: dict, positions, states: list[str]) -> list[dict]:
    """The portable path: groups of at most TAGS_PER_GROUP assets (their size is known from the
    grouping query) are read whole in one query; a window function numbers the larger ones."""
    fields = _TAG_FIELDS
    small, large = Q(pk__in=[]), []
    for i in positions:  # page rows only (≤ page size)
        parent = int(c["parent_id"][i])
        match = Q(
            Q(parent__isnull=True) if parent < 0 else Q(parent_id=parent),
            hardware_model_id=int(c["hardware_model_id"][i]),
            site_id=int(c["site_id"][i]),
        )
        if c["assets"][i] <= TAGS_PER_GROUP:
            small |= match
        else:
            large.append(match)
    rows = list(Asset.objects.filter(small, state__in=states).values(*fields, "parent__asset_tag"))
    if large:
        either = Q(pk__in=[])
        for m in large:
            either |= m
        rows += list(
            Asset.objects.filter(either, state__in=states)
            .annotate(
                rn=Window(
                    RowNumber(),
                    partition_by=[F("hardware_model_id"), F("parent_id"), F("site_id")],
                    order_by=F("id").asc(),
                )
            )
            .filter(rn__lte=TAGS_PER_GROUP)
            .values(*fields, "parent__asset_tag")
        )
    return rows
