"""SNMP (v2c): one counter read by GET, e.g. a PDU's lifetime energy."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from connectors.clients import SourceError


def get_counter(endpoint: str, oid: str, *, community: str, timeout: float) -> Decimal:
    host, _, port = endpoint.rpartition(":") if ":" in endpoint else (endpoint, "", "161")
    return asyncio.run(_get(host, int(port), oid, community or "public", timeout))


async def _get(host: str, port: int, oid: str, community: str, timeout: float) -> Decimal:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
    )

    engine = SnmpEngine()
    try:
        target = await UdpTransportTarget.create((host, port), timeout=timeout, retries=0)
        indication, status, _index, binds = await get_cmd(
            engine,
            CommunityData(community, mpModel=1),
            target,
            ContextData(),
            ObjectType(ObjectIdentity(oid)),
            lookupMib=False,  # numbers in, numbers out: no MIB is loaded or compiled
        )
    except Exception as exc:  # noqa: BLE001 - resolver and socket errors of any kind
        raise SourceError(f"{host}:{port}: {type(exc).__name__}") from None
    finally:
        engine.close_dispatcher()
    if indication:
        raise SourceError(f"{host}:{port} did not answer for {oid}: {indication}")
    if status:
        raise SourceError(f"{host}:{port} refused {oid}: {status.prettyPrint()}")
    (_name, value), *_ = binds
    if value.__class__.__name__ in ("NoSuchObject", "NoSuchInstance", "EndOfMibView"):
        raise SourceError(f"{host}:{port} has no object {oid}")
    try:
        return Decimal(int(value))
    except (TypeError, ValueError):
        kind = value.__class__.__name__
        raise SourceError(f"{host}:{port} gave a {kind} at {oid}, not a number") from None
