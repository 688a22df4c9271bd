from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from accounts.audit import acting


class Command(BaseCommand):
    help = (
        "Print the API token of USER (creating it if needed), for scripts: Authorization: Token …"
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="Replace an existing token.")

    def handle(self, *args, username, rotate, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user named '{username}'.") from exc
        if not user.is_active:
            raise CommandError(f"User '{username}' is inactive.")
        with acting(via="command line (create_api_token)"):
            if rotate:
                Token.objects.filter(user=user).delete()
            token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
