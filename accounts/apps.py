from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign-in: failed-attempt throttling for the login forms and API tokens; hashed API tokens
    and their audit."""

    name = "accounts"
    verbose_name = "Accounts and API tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts import schema, signals  # noqa: F401 - connects the receivers
