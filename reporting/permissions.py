"""Who may do what with reporting's jobs. One policy, asked by the API and the admin."""


def may_retry_job(user, job) -> bool:
    """A failed job (ingest, compute, export) is retried by its requester or a superuser."""
    if not (user and user.is_authenticated):
        return False
    return user.is_superuser or (job.requested_by_id is not None and job.requested_by_id == user.pk)
