"""Single sign-on through a setup link (issue 18): the IT admin prepares the connection as a draft kept
on the link (IdP metadata, attributes, group mappings), runs a test login against the draft, and only
a passing test lets them save it to the org. Until then the org's connection (and every login through
it) stays exactly as it was.

The test login is a real one through the ACS (services/sso/login.py): its RelayState key names the
link, so the ACS checks the response against the draft's IdP and certificates instead of the saved
ones, never signs anyone in, and records the result on the draft (record_test).
"""
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives import hashes

from extensions import db
from models import Role, SetupLink, SsoLoginAttempt, parse_uuid
from services import ServiceError
from services.sso import config as sso_config

MAPPABLE = {role.value for role in sso_config.MAPPABLE_ROLES}


@dataclass
class DraftCertificate:
    pem: str


@dataclass
class DraftGroupMapping:
    group_name: str
    role: Role
    position: int


@dataclass
class DraftConnection:
    """What the SAML settings and the ACS read of a connection, from a link's draft: the org's own SP
    key pair with the draft's IdP. Never stored; id and version key the settings cache."""
    id: object
    org_id: object
    version: int
    sp_certificate: str
    sp_private_key_encrypted: str
    idp_entity_id: str
    idp_sso_url: str
    sign_authn_requests: bool
    email_attribute: str
    groups_attribute: str
    default_role: Role
    certificates: list = field(default_factory=list)
    group_mappings: list = field(default_factory=list)
    allow_idp_initiated: bool = False  # a draft is only ever tested from the link's own request
    last_test_succeeded_at: datetime | None = None

    @property
    def is_configured(self):
        return bool(self.idp_entity_id and self.idp_sso_url and self.certificates)


def draft_of(link, org=None):
    """The link's draft, started from the org's current connection (its attributes and mappings) so
    saving it changes only what the IT admin changed."""
    if link.sso_draft:
        return dict(link.sso_draft)
    connection = sso_config.get_connection(link.org_id)
    return {
        "revision": 0, "entity_id": "", "sso_url": "", "sign_authn_requests": False, "certificates": [],
        "metadata_url": None,
        "email_attribute": connection.email_attribute if connection else "",
        "groups_attribute": connection.groups_attribute if connection else "",
        "default_role": Role(connection.default_role).value if connection else Role.member.value,
        "group_mappings": [[m.group_name, Role(m.role).value] for m in
                           sorted(connection.group_mappings, key=lambda m: m.position)] if connection else [],
        "test": None,
    }


def _store(link, draft):
    draft["revision"] = draft.get("revision", 0) + 1  # any change needs a new test
    link.sso_draft = draft
    db.session.flush()
    return draft


def is_saved(draft):
    return draft.get("saved_revision") == draft.get("revision")


def is_tested(draft):
    test = draft.get("test") or {}
    return bool(test.get("succeeded")) and test.get("revision") == draft.get("revision")


def set_idp_from_metadata(link, xml, metadata_url=None):
    """The IdP from its metadata (pasted, uploaded or fetched): entity ID, SSO URL, certificates."""
    parsed = sso_config.parse_metadata(xml)
    if not parsed["entity_id"]:
        raise ServiceError("The metadata's EntityDescriptor has no entityID.", field="metadata_xml")
    certificates = [sso_config.parse_certificate(text, "metadata_xml")[0]
                    for text in parsed["certificates"][:sso_config.MAX_CERTIFICATES]]
    draft = draft_of(link)
    draft.update(entity_id=parsed["entity_id"][:1024], sso_url=parsed["sso_url"][:2048],
                 sign_authn_requests=parsed["sign_authn_requests"], certificates=certificates,
                 metadata_url=metadata_url)
    return _store(link, draft)


def set_idp_from_metadata_url(link, url):
    url, body = sso_config.fetch_metadata(url)
    try:
        return set_idp_from_metadata(link, body, metadata_url=url)
    except ServiceError as error:
        raise ServiceError(f"The metadata at that URL was refused: {error.message}", field="metadata_url") from None


def set_attributes(link, email_attribute, groups_attribute, default_role):
    if default_role not in MAPPABLE:
        raise ServiceError("Choose admin, member or viewer.", field="default_role")
    draft = draft_of(link)
    draft.update(email_attribute=(email_attribute or "").strip()[:255],
                 groups_attribute=(groups_attribute or "").strip()[:255], default_role=default_role)
    return _store(link, draft)


def add_group_mapping(link, group_name, role):
    """Members of an IdP group get a role; never owner (owners are out of the IdP's reach)."""
    group_name = (group_name or "").strip()
    if not group_name or len(group_name) > 255:
        raise ServiceError("Enter the group name (or ID) exactly as the IdP sends it.", field="group_name")
    if role not in MAPPABLE:
        raise ServiceError("Choose admin, member or viewer.", field="role")
    draft = draft_of(link)
    if any(name == group_name for name, _ in draft["group_mappings"]):
        raise ServiceError("That group is already mapped.", field="group_name")
    if len(draft["group_mappings"]) >= sso_config.MAX_GROUP_MAPPINGS:
        raise ServiceError(f"At most {sso_config.MAX_GROUP_MAPPINGS} mappings.", field="group_name")
    draft["group_mappings"] = draft["group_mappings"] + [[group_name, role]]
    return _store(link, draft)


def remove_group_mapping(link, group_name):
    draft = draft_of(link)
    kept = [pair for pair in draft["group_mappings"] if pair[0] != group_name]
    if len(kept) != len(draft["group_mappings"]):
        draft["group_mappings"] = kept
        _store(link, draft)
    return draft


def draft_connection(org, link):
    """The draft as a connection python3-saml and the ACS can use (None before the IdP is given)."""
    draft = link.sso_draft or {}
    if not draft.get("entity_id"):
        return None
    connection = sso_config.ensure_connection(org)  # the SP key pair is the org's own
    return DraftConnection(
        id=link.id, org_id=org.id, version=draft["revision"], sp_certificate=connection.sp_certificate,
        sp_private_key_encrypted=connection.sp_private_key_encrypted, idp_entity_id=draft["entity_id"],
        idp_sso_url=draft["sso_url"], sign_authn_requests=draft["sign_authn_requests"],
        email_attribute=draft["email_attribute"], groups_attribute=draft["groups_attribute"],
        default_role=Role(draft["default_role"]), certificates=[DraftCertificate(pem) for pem in draft["certificates"]],
        group_mappings=[DraftGroupMapping(name, Role(role), position)
                        for position, (name, role) in enumerate(draft["group_mappings"])],
    )


def draft_connection_for_test(org, link_id):
    """For the ACS: the draft of a live link of this org whose test a RelayState names, else None."""
    from services import setup_links
    link = db.session.get(SetupLink, link_id)
    if link is None or link.org_id != org.id or setup_links.refusal(link) or "sso" not in link.scopes:
        return None
    return draft_connection(org, link)


def start_test(org, link):
    """The IdP URL for a test login against the draft (ServiceError until the IdP is given)."""
    from services.sso import login as sso_login
    connection = draft_connection(org, link)
    if connection is None:
        raise ServiceError("Give your identity provider's metadata first (step 2).")
    return sso_login.start_login(org, connection, is_test=True, setup_link_id=link.id)


def record_test(org, link_id, attempt):
    """The ACS's outcome of a test started through the link, kept on its draft: a pass lets it be saved."""
    link = db.session.get(SetupLink, link_id)
    if link is None or link.org_id != org.id or not link.sso_draft:
        return
    draft = dict(link.sso_draft)
    draft["test"] = {"attempt_id": str(attempt.id), "succeeded": attempt.succeeded, "revision": draft["revision"]}
    link.sso_draft = draft
    db.session.flush()


def test_attempt(link, attempt_id):
    """The login attempt of the draft's last test, if attempt_id names it (else None: a 404)."""
    test = (link.sso_draft or {}).get("test") or {}
    if test.get("attempt_id") != str(attempt_id):
        return None
    return db.session.scalar(SsoLoginAttempt.for_org(link.org_id).where(SsoLoginAttempt.id == parse_uuid(attempt_id)))


def save(org, link, actor):
    """Save the tested draft as the org's connection (one sso.configured event, the owners told)."""
    from services import setup_links
    draft = draft_of(link)
    if is_saved(draft):
        return sso_config.get_connection(org.id)  # a second press of Save changes nothing
    if not is_tested(draft):
        raise ServiceError("Run a test login that passes with these settings first: nothing is saved before.")
    connection = sso_config.apply_tested_configuration(
        org, actor, entity_id=draft["entity_id"], sso_url=draft["sso_url"],
        sign_authn_requests=draft["sign_authn_requests"], certificates=draft["certificates"],
        metadata_url=draft["metadata_url"], email_attribute=draft["email_attribute"],
        groups_attribute=draft["groups_attribute"], default_role=draft["default_role"],
        group_mappings=draft["group_mappings"], change="setup_link")
    link.sso_draft = {**draft, "saved_revision": draft["revision"]}
    setup_links.mark_done(link, "sso")
    return connection


def fingerprints(draft):
    """SHA-256 fingerprints of the draft's certificates, for the IT admin to compare with their IdP's."""
    return [sso_config.parse_certificate(pem)[1].fingerprint(hashes.SHA256()).hex(":") for pem in draft.get("certificates", [])]
