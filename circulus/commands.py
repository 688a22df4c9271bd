"""Base for commands that read a user's file: a file that cannot be read is a one-line error
(`CommandError`), never a traceback. And the user a command acts for."""

import csv

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


def active_user(username: str):
    """The active user named ``username``: a command never acts for a missing or deactivated
    account, as the sign-in and the API do not."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named '{username}'.")
    if not user.is_active:
        raise CommandError(f"User '{username}' is inactive.")
    return user


class FileCommand(BaseCommand):
    def execute(self, *args, **options):
        file = options.get("file", "the file")
        try:
            return super().execute(*args, **options)
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{file}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
            ) from exc
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from exc
        except csv.Error as exc:
            raise CommandError(f"{file}: not readable as CSV: {exc}") from exc
        except ValueError as exc:
            if "NUL" not in str(exc):
                raise
            raise CommandError(
                f"{file}: contains a NUL character (is it UTF-16? use UTF-8)"
            ) from exc
