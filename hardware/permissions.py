"""Who may change the hardware catalogue. One policy, used by the API, the admin and commands.

- every signed-in user reads the catalogue (it is reference data with sources);
- only superusers and the `catalogue-editor` role add, change or delete models, manufacturers,
  sources and figure sources: a wrong mass or embodied-carbon figure flows into every circular
  figure and EU export, so being staff is not enough.
"""

CATALOGUE_EDITOR = "catalogue-editor"


def _groups(user) -> set[str]:
    cached = getattr(user, "_circulus_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._circulus_roles = cached
    return cached


def can_read(user) -> bool:
    return bool(user and user.is_authenticated)


def can_edit(user) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or CATALOGUE_EDITOR in _groups(user)
