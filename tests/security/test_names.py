"""Names are one line of visible text: every form and the JSON API refuse a line break, a tab or any
other control character in a name, with the same clear message (services/names.py), and write nothing."""
import pytest

from extensions import db
from models import ApiKey, Organization, User
from services import accounts, mail
from tests.api.conftest import api_org, bearer  # noqa: F401 (api_org is a fixture)

BAD_NAMES = [
    ("Ada\r\nBcc: victim@example.com", "carriage return (U+000D)"),
    ("Ada\nLovelace", "line break (U+000A)"),
    ("Ada\tLovelace", "tab (U+0009)"),
    ("Ada\x1b[31mred", "control character (U+001B)"),
    ("Ada\x85Lovelace", "control character (U+0085)"),
    ("Ada\u2028Lovelace", "line separator (U+2028)"),
    ("Ada\u202eecalevoL", "right-to-left override (U+202E)"),
]


def refused(response, words):
    assert response.status_code == 422, response.status_code
    text = response.get_data(as_text=True)
    assert f"Remove the {words}" in text and 'class="field-error"' in text
    return text


@pytest.fixture
def owner_and_org(make):
    owner = make.user(email="owner@example.com", name="Owner")
    return owner, make.org(owner=owner, name="Acme", slug="acme")


@pytest.mark.parametrize("name, words", BAD_NAMES)
def test_signup_refuses_a_name_with_a_control_character(client, name, words):
    with client.application.test_request_context():
        link = f"/signup/{accounts.sign_up_token('ada@example.com')}"
    refused(client.post(link, data={"name": name, "password": "analytical engine notes"}), words)
    assert User.query.count() == 0


@pytest.mark.parametrize("name, words", BAD_NAMES[:3])
def test_profile_refuses_a_name_with_a_control_character(client, login, owner_and_org, name, words):
    owner, _ = owner_and_org
    login(owner)
    refused(client.post("/app/account/profile", data={"name": name}), words)
    assert db.session.get(User, owner.id).name == "Owner"


@pytest.mark.parametrize("name, words", BAD_NAMES[:3])
def test_invitation_signup_refuses_a_name_with_a_control_character(client, owner_and_org, name, words):
    from models import Role
    from services.events import Actor
    from services.invitations import invite_member
    from tests.invitations.conftest import last_email_to, link_path_in
    owner, org = owner_and_org
    invite_member(org, "grace@example.com", Role.member, Actor.for_user(owner), Role.owner)
    db.session.commit()
    path = link_path_in(last_email_to("grace@example.com").text_body)
    refused(client.post(f"{path}/signup", data={"name": name, "password": "a long enough passphrase"}), words)
    assert User.by_email("grace@example.com") is None


@pytest.mark.parametrize("name, words", BAD_NAMES[:3])
def test_workspace_forms_refuse_a_name_with_a_control_character(client, login, owner_and_org, name, words):
    owner, org = owner_and_org
    login(owner)
    refused(client.post("/app/workspaces", data={"name": name}), words)
    refused(client.post("/app/o/acme/settings", data={"name": name, "slug": "acme"}), words)
    assert [o.name for o in Organization.query.all()] == ["Acme"]


@pytest.mark.parametrize("name, words", BAD_NAMES[:3])
def test_api_key_form_refuses_a_name_with_a_control_character(client, login, owner_and_org, name, words):
    owner, org = owner_and_org
    login(owner)
    refused(client.post("/app/o/acme/settings/api-keys", data={"name": name, "scope": "read"}), words)
    assert ApiKey.query.count() == 0


@pytest.mark.parametrize("name, words", BAD_NAMES[:3])
def test_json_api_refuses_a_name_with_a_control_character(client, api_org, name, words):
    response = client.patch("/api/v1/org", json={"name": name}, headers=bearer(api_org.key(["admin"])))
    assert response.status_code == 422 and response.is_json
    assert f"Remove the {words}" in response.get_data(as_text=True)
    assert db.session.get(Organization, api_org.org.id).name != name


def test_an_email_subject_never_carries_a_line_break(app):
    """A name stored before names were checked cannot make an email unsendable (retried forever)."""
    email = mail.queue_email("ada@example.com", "[Acme\r\nBcc: x@example.com] Ada joined", "notification",
                             title="t", body="b", org_name="Acme", event_type=None, actor_label="a", ip=None,
                             user_agent=None, occurred_at=None, link_url=None, unsubscribe_url=None, settings_url="s")
    assert email.subject == "[Acme  Bcc: x@example.com] Ada joined"
    mail.build_message(email)   # would raise "Header values may not contain linefeed or carriage return"
