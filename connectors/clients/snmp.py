"""SNMP: one counter read by GET, e.g. a PDU's lifetime energy.

SNMP v2c with a community, or SNMP v3 (the user-based security model, RFC 3414) with a user
name, an authentication key and, for authPriv, a privacy key: a source's credentials choose
which (`Credentials.from_stored`; a user name means v3).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from connectors.clients import SourceError

# The protocols an operator picks by name (as net-snmp's -a and -x options spell them).
AUTH_PROTOCOLS = ("SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512", "MD5")
PRIVACY_PROTOCOLS = ("AES-128", "AES-192", "AES-256", "DES")
MIN_KEY = 8  # RFC 3414 §11.2: a pass phrase of at least 8 octets


@dataclass(frozen=True)
class Credentials:
    community: str = "public"
    user: str = ""  # set: SNMP v3
    auth_key: str = ""
    auth_protocol: str = "SHA"
    privacy_key: str = ""  # set: authPriv; blank: authNoPriv
    privacy_protocol: str = "AES-128"
    context: str = ""

    @classmethod
    def from_stored(cls, stored: dict) -> Credentials:
        """From a source's decrypted credentials (connectors.admin.CREDENTIAL_FIELDS)."""
        return cls(
            community=stored.get("community") or "public",
            user=stored.get("username") or "",
            auth_key=stored.get("password") or "",
            auth_protocol=stored.get("snmp_auth_protocol") or "SHA",
            privacy_key=stored.get("privacy_password") or "",
            privacy_protocol=stored.get("snmp_privacy_protocol") or "AES-128",
            context=stored.get("snmp_context") or "",
        )

    def problems(self) -> dict[str, str]:
        """What an SNMP v3 agent would refuse before anything is sent: field → reason."""
        if not self.user:
            return {}
        found = {}
        if self.auth_protocol not in AUTH_PROTOCOLS:
            found["snmp_auth_protocol"] = f"one of {', '.join(AUTH_PROTOCOLS)}"
        if self.privacy_protocol not in PRIVACY_PROTOCOLS:
            found["snmp_privacy_protocol"] = f"one of {', '.join(PRIVACY_PROTOCOLS)}"
        if len(self.auth_key) < MIN_KEY:
            found["password"] = (
                f"SNMP v3 needs an authentication pass phrase of at least {MIN_KEY} characters"
            )
        if self.privacy_key and len(self.privacy_key) < MIN_KEY:
            found["privacy_password"] = (
                f"a privacy pass phrase has at least {MIN_KEY} characters (or leave it blank "
                "for authentication without encryption)"
            )
        return found


def get_counter(endpoint: str, oid: str, *, credentials: Credentials, timeout: float) -> Decimal:
    host, _, port = endpoint.rpartition(":") if ":" in endpoint else (endpoint, "", "161")
    problems = credentials.problems()
    if problems:
        reason = next(iter(problems.values()))
        raise SourceError(f"{host}:{port}: the SNMP v3 settings are incomplete ({reason})")
    return asyncio.run(_get(host, int(port), oid, credentials, timeout))


def _security(api, credentials: Credentials):
    if not credentials.user:
        return api.CommunityData(credentials.community, mpModel=1)
    auth = {
        "SHA": api.usmHMACSHAAuthProtocol,
        "SHA-224": api.usmHMAC128SHA224AuthProtocol,
        "SHA-256": api.usmHMAC192SHA256AuthProtocol,
        "SHA-384": api.usmHMAC256SHA384AuthProtocol,
        "SHA-512": api.usmHMAC384SHA512AuthProtocol,
        "MD5": api.usmHMACMD5AuthProtocol,
    }[credentials.auth_protocol]
    privacy = {
        "AES-128": api.usmAesCfb128Protocol,
        "AES-192": api.usmAesCfb192Protocol,
        "AES-256": api.usmAesCfb256Protocol,
        "DES": api.usmDESPrivProtocol,
    }[credentials.privacy_protocol]
    if not credentials.privacy_key:
        return api.UsmUserData(credentials.user, credentials.auth_key, authProtocol=auth)
    return api.UsmUserData(
        credentials.user,
        credentials.auth_key,
        credentials.privacy_key,
        authProtocol=auth,
        privProtocol=privacy,
    )


async def _get(host: str, port: int, oid: str, credentials: Credentials, timeout: float) -> Decimal:
    from pysnmp.hlapi.v3arch import asyncio as api

    engine = api.SnmpEngine()
    try:
        target = await api.UdpTransportTarget.create((host, port), timeout=timeout, retries=0)
        indication, status, _index, binds = await api.get_cmd(
            engine,
            _security(api, credentials),
            target,
            api.ContextData(contextName=credentials.context),
            api.ObjectType(api.ObjectIdentity(oid)),
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
