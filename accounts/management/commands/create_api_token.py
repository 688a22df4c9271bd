from django.conf import settings
from django.core.management.base import BaseCommand

from accounts import tokens
from accounts.audit import acting
from circulus.commands import active_user


class Command(BaseCommand):
    help = (
        "Issue a new API token for USER and print its key once, for scripts: "
        "Authorization: Token …. The key is stored only as a hash and cannot be shown again."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--rotate", action="store_true", help="Revoke USER's other tokens first."
        )
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"Days until the token expires (default {settings.API_TOKEN_DAYS}; 0: never).",
        )

    def handle(self, *args, username, rotate, days, **options):
        user = active_user(username)
        with acting(via="command line (create_api_token)"):
            if rotate:
                tokens.revoke_all(user)
            _token, key = tokens.issue(user, days=days)
        self.stdout.write(key)
