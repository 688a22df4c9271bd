from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from accounts.audit import acting
from circulus.commands import active_user


class Command(BaseCommand):
    help = (
        "Print the API token of USER (creating it if needed), for scripts: Authorization: Token …"
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="Replace an existing token.")

    def handle(self, *args, username, rotate, **options):
        user = active_user(username)
        with acting(via="command line (create_api_token)"):
            if rotate:
                Token.objects.filter(user=user).delete()
            token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
