from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts import audit, throttling
from accounts.middleware import SCOPE as LOGIN
from accounts.models import ApiToken, TokenAction, TokenEvent


@receiver(user_login_failed)
def count_failed_login(sender, credentials, request=None, **kwargs):
    if request is not None:  # a programmatic authenticate() is not a sign-in attempt
        throttling.record_failure(
            LOGIN, ip=throttling.client_ip(request), account=credentials.get("username")
        )


@receiver(user_logged_in)
def forget_failed_logins(sender, user, request=None, **kwargs):
    throttling.clear_account(LOGIN, user.get_username())


def _record(action: str, token: ApiToken) -> None:
    actor, via = audit.current()
    TokenEvent.objects.create(
        action=action,
        for_user_id=token.user_id,
        for_username=token.user.get_username(),
        actor_id=actor.pk if actor is not None else None,
        actor_name=actor.get_username() if actor is not None else "",
        via=via,
        token_prefix=token.prefix,
    )


@receiver(post_save, sender=ApiToken)
def token_created(sender, instance, created, **kwargs):
    if created:
        _record(TokenAction.CREATED, instance)


@receiver(post_delete, sender=ApiToken)
def token_revoked(sender, instance, **kwargs):
    _record(TokenAction.REVOKED, instance)
