"""Sites and an operator shared by the custody tests (and any registry test that wants them)."""

import pytest

from tests import factories as f


@pytest.fixture
def par(db):
    return f.site("PAR1")


@pytest.fixture
def fra(db):
    return f.site("FRA1", country="DE", time_zone="Europe/Berlin")


@pytest.fixture
def op(operator_user, par):
    """An operator of PAR1 only."""
    par.operators.add(operator_user)
    return operator_user
