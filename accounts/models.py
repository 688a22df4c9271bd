import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

PREFIX_LENGTH = 8


class TokenAction(models.TextChoices):
    CREATED = "created", "created"
    REVOKED = "revoked", "revoked"


class TokenEvent(models.Model):
    """An API token created or revoked: who did it, when, for whom, through which door.

    Names are copied so the record outlives deleted users; the key itself is never stored.
    """

    action = models.CharField(max_length=10, choices=TokenAction.choices)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Plain ids, not foreign keys: deleting a user deletes its token, and that revocation's
    # record must survive the user.
    for_user_id = models.IntegerField()
    for_username = models.CharField(max_length=150)
    actor_id = models.IntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True, help_text="blank: no signed-in user")
    via = models.CharField(max_length=100, help_text="admin, API, command line, …")
    token_prefix = models.CharField(
        max_length=PREFIX_LENGTH, blank=True, help_text="the first characters of the key"
    )

    class Meta:
        verbose_name = "API token event"
        ordering = ("-at", "-id")

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} token {self.action} for {self.for_username}"


class ApiToken(models.Model):
    """An API token, kept only as a SHA-256 digest: the key is shown once, when it is issued.

    The first characters (`prefix`) stay readable so a user and an administrator can tell
    tokens apart in the admin and the audit trail without either of them seeing a key.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(null=True, blank=True, help_text="blank: never expires")

    class Meta:
        verbose_name = "API token"
        ordering = ("user__username", "-created")

    def __str__(self):
        return f"{self.prefix}… for {self.user}"

    @staticmethod
    def digest_of(key: str) -> str:
        # A token is 256 random bits (or a 160-bit legacy key), not a password: a fast hash is
        # enough, as nobody can guess a preimage of a random key.
        return hashlib.sha256(key.encode()).hexdigest()

    def has_expired(self, now=None) -> bool:
        return self.expires is not None and self.expires <= (now or timezone.now())
