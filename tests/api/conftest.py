"""Helpers for the JSON API tests: an org with an owner, keys of any scope, bearer headers."""
import pytest

from extensions import db
from models import Role
from services import api_keys
from services.events import Actor


class ApiOrg:
    def __init__(self, make):
        self.owner = make.user()
        self.org = make.org(owner=self.owner)
        self.admin = make.member(self.org, Role.admin)

    def key(self, scopes=("read", "write", "admin"), created_by=None, **kwargs):
        """A new key of this org; returns the key string (the row is key_row)."""
        creator = created_by or self.owner
        row, key = api_keys.create_key(self.org, kwargs.pop("name", "test key"), list(scopes), Actor.for_user(creator),
                                       created_by=creator, **kwargs)
        db.session.commit()
        self.key_row = row
        return key


@pytest.fixture
def api_org(make):
    return ApiOrg(make)


def bearer(key):
    return {"Authorization": f"Bearer {key}"}
