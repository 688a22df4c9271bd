"""Failed sign-ins counted per client IP and per account, in a sliding window.

Past the limit the door answers 429 with Retry-After until enough failures have aged out of the
window: no manual unlock is needed. Counts live in Django's cache, so several web processes
need a shared cache (CACHE_URL=redis://…, see docs/operations.md). The per-account limit is
lower than the per-IP one because many honest users can share one IP behind a NAT.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def now() -> float:
    return time.time()


def client_ip(request) -> str:
    """REMOTE_ADDR; behind TRUSTED_PROXY_COUNT proxies, the address the outermost one saw.

    A client can write any X-Forwarded-For it likes, so the header is read only when proxies we
    run append to it, and then only the entry our outermost proxy wrote.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    return hops[-proxies] if len(hops) >= proxies else remote


def _limits(scope: str) -> dict[str, tuple[int, int]]:
    return settings.AUTH_FAILURE_LIMITS[scope]


def _key(scope: str, kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"circulus:auth-fail:{scope}:{kind}:{digest}"


def _identities(scope: str, ip: str, account: str | None):
    yield "ip", ip
    if account and "account" in _limits(scope):
        yield "account", account


def _recent(key: str, window: int) -> list[float]:
    cutoff = now() - window
    return [t for t in cache.get(key, []) if t > cutoff]


def record_failure(scope: str, *, ip: str, account: str | None = None) -> None:
    for kind, value in _identities(scope, ip, account):
        limit, window = _limits(scope)[kind]
        key = _key(scope, kind, value)
        stamps = (_recent(key, window) + [now()])[-limit:]
        cache.set(key, stamps, window)


def retry_after(scope: str, *, ip: str, account: str | None = None) -> int | None:
    """Seconds until the next attempt is allowed, or None when it is allowed now."""
    waits = []
    for kind, value in _identities(scope, ip, account):
        limit, window = _limits(scope)[kind]
        stamps = _recent(_key(scope, kind, value), window)
        if len(stamps) >= limit:
            waits.append(stamps[-limit] + window - now())
    return max(1, int(max(waits)) + 1) if waits else None


def clear_account(scope: str, account: str) -> None:
    cache.delete(_key(scope, "account", account))
