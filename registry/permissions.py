"""Who may do what in the registry. One policy, used by the API, the admin and the commands.

- operators create assets and record events only at the sites they are assigned to;
- procurement reads all assets and may reserve (and release) for reuse;
- auditors read everything, including the ledger and history, and change nothing;
- measured reuse runs are recorded like events: by operators at their sites;
- superusers may do everything; nobody anonymous may do anything.
"""

from registry.lifecycle import EventKind
from registry.models import Site

OPERATOR, PROCUREMENT, AUDITOR = "operator", "procurement", "auditor"
PROCUREMENT_KINDS = {EventKind.RESERVED_FOR_REUSE, EventKind.RESERVATION_RELEASED}


def roles(user) -> set[str]:
    if not (user and user.is_authenticated):
        return set()
    cached = getattr(user, "_circulus_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._circulus_roles = cached
    return cached


def can_read(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or roles(user)))


def can_read_in_admin(user) -> bool:
    """The registry's own admin pages: registry roles and superusers. A catalogue editor reads
    the registry through the API and, in the admin, the reuse page only (docs/roles.md)."""
    return bool(
        user
        and user.is_authenticated
        and (user.is_superuser or roles(user) & {OPERATOR, PROCUREMENT, AUDITOR})
    )


def operated_site_ids(user) -> set[int]:
    if not (user and user.is_authenticated):
        return set()
    cached = getattr(user, "_circulus_sites", None)
    if cached is None:
        cached = set(Site.objects.filter(operators=user).values_list("id", flat=True))
        user._circulus_sites = cached
    return cached


def can_write_at(user, site: Site | None) -> bool:
    """May create assets at `site` and record any event there."""
    if not (user and user.is_authenticated):
        return False
    if user.is_superuser:
        return True
    return OPERATOR in roles(user) and site is not None and site.pk in operated_site_ids(user)


def can_record(user, kind: str, site: Site | None) -> bool:
    if can_write_at(user, site):
        return True
    return kind in PROCUREMENT_KINDS and PROCUREMENT in roles(user)


def can_record_measurement(user, site: Site | None) -> bool:
    """Measured reuse runs are site data: recorded by the site's operators (or a superuser)."""
    return can_write_at(user, site)


def can_manage_sites(user) -> bool:
    return bool(user and user.is_authenticated and user.is_superuser)


def may_record_somewhere(user) -> bool:
    """Whether to offer event recording at all (each asset is still checked with can_record)."""
    if not (user and user.is_authenticated):
        return False
    return user.is_superuser or (OPERATOR in roles(user) and bool(operated_site_ids(user)))


def may_reserve_somewhere(user) -> bool:
    """Whether to offer reservations at all (each asset is still checked with can_record)."""
    if not (user and user.is_authenticated):
        return False
    return user.is_superuser or bool(roles(user) & {PROCUREMENT, OPERATOR})
