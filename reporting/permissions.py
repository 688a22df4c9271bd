"""Who may see and change EU reporting data. One policy, used by the API, the admin, commands and
tasks (the registry's roles and site assignments are the source: registry/permissions.py).

- operators read and write meters, readings, site profiles, periods, entered values, renewable
  instruments, ingest jobs and exports of the sites they operate, and nothing of other sites;
- auditors read every site's reporting data and change nothing;
- superusers may do everything;
- everyone else (procurement, a signed-in user with no role, anonymous) sees none of it:
  energy and water figures of a site are the operator's business, not procurement's;
- an export is seen by its requester, auditors and superusers, and retried only by its
  requester or a superuser (a retry runs again with the requester's scope).
"""

from registry import permissions as registry_policy
from registry.permissions import AUDITOR, OPERATOR, roles


def sees_all_sites(user) -> bool:
    if not (user and user.is_authenticated):
        return False
    return user.is_superuser or AUDITOR in roles(user)


def can_read(user) -> bool:
    """May open reporting pages at all (operators then see only their sites)."""
    return sees_all_sites(user) or OPERATOR in roles(user)


def readable_site_ids(user) -> set[int] | None:
    """None means every site."""
    if sees_all_sites(user):
        return None
    if OPERATOR in roles(user):
        return registry_policy.operated_site_ids(user)
    return set()


def scope(queryset, user, site_path: str = "site"):
    """The part of `queryset` the user may read; `site_path` leads from a row to its site."""
    ids = readable_site_ids(user)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{site_path}__in": ids})


def may_write_somewhere(user) -> bool:
    """Whether to offer writing at all (each object is still checked with can_write_at)."""
    if not (user and user.is_authenticated):
        return False
    return user.is_superuser or (
        OPERATOR in roles(user) and bool(registry_policy.operated_site_ids(user))
    )


def writable_site_ids(user) -> set[int] | None:
    """None means every site."""
    if user and user.is_authenticated and user.is_superuser:
        return None
    if OPERATOR in roles(user):
        return registry_policy.operated_site_ids(user)
    return set()


def can_write_at(user, site) -> bool:
    return registry_policy.can_write_at(user, site)


def can_see_export(user, job) -> bool:
    """The requester, superusers and auditors."""
    if not (user and user.is_authenticated):
        return False
    return job.requested_by_id == user.pk or sees_all_sites(user)


def can_retry_export(user, job) -> bool:
    """Only the requester or a superuser: an auditor reads every job but starts none."""
    return may_retry_job(user, job)


def can_see_aggregates(user) -> bool:
    """Annex IV aggregates mix every site of a Member State: a country with one site of ours
    would show that site's figures to operators of other sites."""
    return sees_all_sites(user)


def may_retry_job(user, job) -> bool:
    """A failed job (ingest, compute, export) is retried by its requester or a superuser."""
    if not (user and user.is_authenticated):
        return False
    return user.is_superuser or (job.requested_by_id is not None and job.requested_by_id == user.pk)
