"""Who is acting when a token changes: the signed-in user of the current request, or what a
command declares with `acting(...)`."""

import contextlib
import contextvars

_acting: contextvars.ContextVar = contextvars.ContextVar("circulus_token_actor", default=None)


@contextlib.contextmanager
def acting(*, via: str, actor=None):
    token = _acting.set((actor, via))
    try:
        yield
    finally:
        _acting.reset(token)


def current() -> tuple[object | None, str]:
    declared = _acting.get()
    if declared is not None:
        return declared
    from simple_history.models import HistoricalRecords

    request = getattr(HistoricalRecords.context, "request", None)
    if request is None:
        return None, "no request (shell or script)"
    user = getattr(request, "user", None)
    via = "admin" if request.path.startswith("/admin/") else f"web {request.path}"
    return (user if user is not None and user.is_authenticated else None), via
