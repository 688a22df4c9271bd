"""API tokens: issued once, stored hashed, expiring, revoked without being shown.

Every door that issues or revokes a token (the `create_api_token` command, `make demo`, the
admin's delete) goes through here, and the signals in accounts/signals.py record each change.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import PREFIX_LENGTH, ApiToken


def issue(user, *, days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for `user` and its key; the key is not kept anywhere and cannot be shown
    again. `days` (default API_TOKEN_DAYS; 0 never) sets when it expires."""
    days = settings.API_TOKEN_DAYS if days is None else days
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        prefix=key[:PREFIX_LENGTH],
        digest=ApiToken.digest_of(key),
        expires=timezone.now() + timedelta(days=days) if days else None,
    )
    return token, key


def revoke_all(user) -> int:
    """Revoke every token of `user` (one at a time, so each revocation is recorded)."""
    tokens = list(ApiToken.objects.filter(user=user))
    for token in tokens:
        token.delete()
    return len(tokens)


def find(key: str) -> ApiToken | None:
    return ApiToken.objects.select_related("user").filter(digest=ApiToken.digest_of(key)).first()
