from django.db import models


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

    class Meta:
        verbose_name = "API token event"
        ordering = ("-at", "-id")

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} token {self.action} for {self.for_username}"
