"""Two writers that meet in the database: a tie it breaks by rolling one back is a conflict
every door answers in words (the API's 409, the admin's form), never a 500."""

from django.db import OperationalError

# Deadlock, serialisation failure, lock not available.
LOST_RACE = {"40P01", "40001", "55P03"}
LOST_RACE_MESSAGE = (
    "another change to the same units was being recorded at the same moment; nothing was "
    "written: look at them again and send it again if it still applies"
)


def lost_race(exc: Exception) -> bool:
    """The database rolled this writer back to let another one through: nothing was written."""
    return (
        isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) in LOST_RACE
    )
