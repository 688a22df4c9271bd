"""Who may do what with connectors. One policy, asked by the admin, the API and the commands.

- sources, their feeds and credentials are set by superusers only (credentials are never shown
  to anyone, superusers included);
- anyone who reads the registry sees sources, pulls and their dry runs;
- a site's operators pull its sources, extend the model mapping, apply its inventory dry runs
  and record measured runs from its Prometheus.
"""

from registry import permissions as registry_policy


def can_manage_sources(user) -> bool:
    return bool(user and user.is_authenticated and user.is_superuser)


def can_read(user) -> bool:
    return registry_policy.can_read(user)


def can_pull(user, site) -> bool:
    return registry_policy.can_write_at(user, site)


def may_pull_somewhere(user) -> bool:
    """Whether to offer pulling and applying at all (each source is still checked)."""
    return registry_policy.may_record_somewhere(user)


def can_apply(user, site) -> bool:
    return registry_policy.can_write_at(user, site)


def can_map_models(user) -> bool:
    return bool(
        user
        and user.is_authenticated
        and (user.is_superuser or registry_policy.OPERATOR in registry_policy.roles(user))
    )
