"""The org's SSO connection: the IdP (metadata XML, metadata URL or by hand), its certificates, the
default role, group-to-role mappings and options. Verbs flush and emit; the caller commits."""
import base64
import binascii
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from extensions import db
from models import Role, SsoCertificate, SsoConnection, SsoGroupMapping, utcnow
from services import ServiceError, crypto
from services.events import target
from services.trust import record_trust_change

MAX_METADATA_BYTES = 512 * 1024
MAX_CERTIFICATES = 5
MAX_GROUP_MAPPINGS = 100
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
MAPPABLE_ROLES = (Role.admin, Role.member, Role.viewer)  # owners are never made or unmade by an IdP


def connection_target(connection):
    return target("sso_connection", connection.id, "SAML connection")


def get_connection(org_id):
    return db.session.scalar(SsoConnection.for_org(org_id))


def ensure_connection(org):
    """The org's connection row, created (with a fresh SP key pair) the first time it is needed."""
    connection = get_connection(org.id)
    if connection is None:
        key_pem, cert_pem = _new_sp_key_pair(org)
        connection = SsoConnection(org_id=org.id, sp_private_key_encrypted=crypto.encrypt(key_pem),
                                   sp_certificate=cert_pem)
        db.session.add(connection)
        db.session.flush()
    return connection


def _new_sp_key_pair(org):
    # The SP's own key signs AuthnRequests for IdPs that ask for it; self-signed is what IdPs expect.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Orgkit SP {org.slug}"[:64])])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def mark_changed(connection):
    """Every change that affects validation bumps the version: the per-process caches key on it."""
    connection.version = (connection.version or 0) + 1
    connection.updated_at = utcnow()


# --- Certificates ---------------------------------------------------------------------------------

def parse_certificate(text, field="certificate"):
    """(pem, x509.Certificate) from PEM or the bare base64 that metadata carries; ServiceError if not one."""
    text = (text or "").strip()
    if not text:
        raise ServiceError("Paste the IdP's signing certificate.", field=field)
    body = re.sub(r"-----(BEGIN|END) CERTIFICATE-----", "", text)
    body = re.sub(r"\s+", "", body)
    try:
        der = base64.b64decode(body, validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise ServiceError("That is not an X.509 certificate. Paste the PEM text (-----BEGIN CERTIFICATE-----…) "
                           "or the base64 from the metadata.", field=field) from None
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n", cert


def add_certificate(org, connection, text, field="certificate"):
    pem, cert = parse_certificate(text, field)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    for existing in connection.certificates:
        if existing.fingerprint_sha256 == fingerprint:
            return existing
    if len(connection.certificates) >= MAX_CERTIFICATES:
        raise ServiceError(f"At most {MAX_CERTIFICATES} certificates: remove an old one first.", field=field)
    row = SsoCertificate(org_id=org.id, connection_id=connection.id, pem=pem, fingerprint_sha256=fingerprint,
                         subject=cert.subject.rfc4514_string()[:500], not_after=cert.not_valid_after_utc)
    connection.certificates.append(row)
    mark_changed(connection)
    db.session.flush()
    return row


def add_idp_certificate(org, actor, text):
    """An admin adds a certificate next to the current ones (rollover)."""
    connection = get_connection(org.id)
    if connection is None or not connection.idp_entity_id:
        raise ServiceError("Configure the identity provider first.", field="certificate")
    certificate = add_certificate(org, connection, text)
    _emit_configured(org, connection, actor, "certificate_added",
                     f"An IdP signing certificate was added ({certificate.subject or 'no subject'}, SHA-256 "
                     f"{certificate.fingerprint_sha256[:16]}…): responses signed with it are now accepted.")
    return certificate


def remove_certificate(org, connection, certificate, actor):
    connection.certificates.remove(certificate)
    mark_changed(connection)
    db.session.flush()
    _emit_configured(org, connection, actor, "certificate_removed",
                     f"The IdP signing certificate {certificate.subject or ''} (SHA-256 "
                     f"{certificate.fingerprint_sha256[:16]}…) was removed.")


# --- The IdP --------------------------------------------------------------------------------------

def _clean_url(value, field, label):
    value = (value or "").strip()
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or len(value) > 2048:
        raise ServiceError(f"Enter the {label} as a full https:// URL.", field=field)
    return value


def set_idp_manually(org, actor, entity_id, sso_url, certificate, sign_authn_requests=False):
    """Entity ID, SSO URL and a certificate typed by hand (the certificate is added to those kept)."""
    entity_id = (entity_id or "").strip()
    if not entity_id or len(entity_id) > 1024:
        raise ServiceError("Enter the IdP's entity ID (issuer).", field="entity_id")
    sso_url = _clean_url(sso_url, "sso_url", "single sign-on URL")
    connection = ensure_connection(org)
    connection.idp_entity_id = entity_id
    connection.idp_sso_url = sso_url
    connection.sign_authn_requests = bool(sign_authn_requests)
    if certificate and certificate.strip():
        add_certificate(org, connection, certificate)
    elif not connection.certificates:
        raise ServiceError("Paste the IdP's signing certificate.", field="certificate")
    mark_changed(connection)
    db.session.flush()
    _emit_configured(org, connection, actor, "manual",
                     f"The identity provider was set by hand: entity ID {connection.idp_entity_id}, "
                     f"SSO URL {connection.idp_sso_url}, {len(connection.certificates)} certificate(s).")
    return connection


def parse_metadata(xml):
    """What Orgkit needs from IdP metadata: {entity_id, sso_url, certificates, sign_authn_requests}.

    Parsed without DTDs or entities (python3-saml's hardened parser), capped in size; ServiceError
    says what is missing or wrong.
    """
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    xml = (xml or b"").strip()
    if not xml:
        raise ServiceError("Paste or upload the IdP's metadata XML.", field="metadata_xml")
    if len(xml) > MAX_METADATA_BYTES:
        raise ServiceError(f"The metadata is larger than {MAX_METADATA_BYTES // 1024} KB.", field="metadata_xml")
    try:
        root = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:  # lxml syntax errors and python3-saml's DTD/entity refusals alike
        raise ServiceError("That is not well-formed XML without a DTD. Paste the metadata exactly as the IdP gives it.",
                           field="metadata_xml") from None
    ns = {"md": MD_NS, "ds": DS_NS}
    descriptors = root.xpath("//md:EntityDescriptor[md:IDPSSODescriptor]", namespaces=ns)
    if not descriptors:
        raise ServiceError("That XML is not SAML IdP metadata: it has no EntityDescriptor with an IDPSSODescriptor.",
                           field="metadata_xml")
    if len(descriptors) > 1:
        raise ServiceError(f"That metadata describes {len(descriptors)} identity providers. Use the metadata of this "
                           f"one app.", field="metadata_xml")
    entity = descriptors[0]
    idp = entity.find(f"{{{MD_NS}}}IDPSSODescriptor")
    sso = [el.get("Location") for el in idp.findall(f"{{{MD_NS}}}SingleSignOnService")
           if el.get("Binding") == REDIRECT_BINDING]
    if not sso or not sso[0]:
        raise ServiceError("The metadata has no SingleSignOnService with the HTTP-Redirect binding.", field="metadata_xml")
    certificates = [el.text for key in idp.findall(f"{{{MD_NS}}}KeyDescriptor") if key.get("use") in (None, "signing")
                    for el in key.iterfind(f".//{{{DS_NS}}}X509Certificate") if el.text and el.text.strip()]
    if not certificates:
        raise ServiceError("The metadata has no signing certificate (KeyDescriptor use=\"signing\").", field="metadata_xml")
    return {
        "entity_id": entity.get("entityID") or "",
        "sso_url": sso[0],
        "certificates": certificates,
        "sign_authn_requests": (idp.get("WantAuthnRequestsSigned") or "").lower() in ("true", "1"),
    }


def import_metadata(org, actor, xml, metadata_url=None, source="metadata"):
    """Configure the IdP from its metadata; its certificates replace those kept (the IdP's metadata is
    the authority on which ones are current, so a rollover published there is picked up)."""
    parsed = parse_metadata(xml)
    connection = ensure_connection(org)
    certs = [parse_certificate(text, "metadata_xml") for text in parsed["certificates"]]
    if not parsed["entity_id"]:
        raise ServiceError("The metadata's EntityDescriptor has no entityID.", field="metadata_xml")
    _clean_url(parsed["sso_url"], "metadata_xml", "single sign-on URL in the metadata")
    before = _idp_settings(connection)
    connection.idp_entity_id = parsed["entity_id"][:1024]
    connection.idp_sso_url = parsed["sso_url"]
    connection.sign_authn_requests = parsed["sign_authn_requests"]
    wanted = {cert.fingerprint(hashes.SHA256()).hex() for _, cert in certs}
    for old in list(connection.certificates):
        if old.fingerprint_sha256 not in wanted:
            connection.certificates.remove(old)
    db.session.flush()
    for pem, _ in certs[:MAX_CERTIFICATES]:
        add_certificate(org, connection, pem, "metadata_xml")
    if metadata_url is not None:
        connection.metadata_url = metadata_url
        connection.metadata_fetched_at = connection.metadata_checked_at = utcnow()
        connection.metadata_error = None
    db.session.flush()
    if _idp_settings(connection) != before:
        # Metadata that says what the connection already holds (most scheduled refreshes) changes
        # nothing a login checks, so it is not an event and keeps the settings cache.
        mark_changed(connection)
        _emit_configured(org, connection, actor, source,
                         f"The identity provider was configured from its metadata"
                         f"{' at ' + connection.metadata_url if metadata_url else ''}: entity ID "
                         f"{connection.idp_entity_id}, {len(connection.certificates)} certificate(s).")
    return connection


def _idp_settings(connection):
    """What a login checks that metadata sets: a change of any of it is an sso.configured event."""
    return (connection.idp_entity_id, connection.idp_sso_url, connection.sign_authn_requests,
            frozenset(c.fingerprint_sha256 for c in connection.certificates))


def fetch_metadata(url):
    """The metadata at url, fetched through the egress guard (SSRF: private addresses are refused)."""
    from services import egress
    url = _clean_url(url, "metadata_url", "metadata URL")
    try:
        response = egress.request("GET", url, headers={"Accept": "application/samlmetadata+xml, application/xml"},
                                  timeout=10, max_response_bytes=MAX_METADATA_BYTES, error_on_oversize=True)
    except ServiceError as error:   # refused or failed: shown under the metadata URL field, not lost
        raise ServiceError(error.message, field="metadata_url", code=error.code) from None
    if response.status != 200:
        raise ServiceError(f"The metadata URL answered HTTP {response.status}, not 200.", field="metadata_url")
    return url, response.body


def import_metadata_url(org, actor, url, source="metadata_url"):
    url, body = fetch_metadata(url)
    try:
        return import_metadata(org, actor, body, metadata_url=url, source=source)
    except ServiceError as error:
        raise ServiceError(f"The metadata at that URL was refused: {error.message}", field="metadata_url") from None


def refresh_metadata(org, connection, actor, source="metadata_url"):
    """Fetch the metadata URL again. A failure is recorded on the connection (shown on the page) and
    leaves the configuration as it was, so logins go on with the certificates already held."""
    try:
        with db.session.begin_nested():  # a metadata refused half-way through writes none of it
            return import_metadata_url(org, actor, connection.metadata_url, source)
    except ServiceError as error:
        connection.metadata_error = error.message[:500]
        connection.metadata_checked_at = utcnow()
        db.session.flush()
        raise


def apply_tested_configuration(org, actor, *, entity_id, sso_url, sign_authn_requests, certificates,
                               metadata_url, email_attribute, groups_attribute, default_role, group_mappings,
                               change):
    """Replace the IdP, its certificates, the attribute names, the default role and the group mappings at
    once, with values a test login has just passed with (a setup link's draft, services/setup_sso.py).
    One sso.configured event; IdP-initiated login and Require SSO stay as the owners set them."""
    connection = ensure_connection(org)
    connection.idp_entity_id, connection.idp_sso_url = entity_id, _clean_url(sso_url, "sso_url", "single sign-on URL")
    connection.sign_authn_requests = bool(sign_authn_requests)
    parsed = [parse_certificate(pem) for pem in certificates]
    wanted = {cert.fingerprint(hashes.SHA256()).hex() for _, cert in parsed}
    for old in list(connection.certificates):
        if old.fingerprint_sha256 not in wanted:
            connection.certificates.remove(old)
    db.session.flush()
    for pem, _ in parsed[:MAX_CERTIFICATES]:
        add_certificate(org, connection, pem)
    connection.metadata_url = metadata_url
    if metadata_url:
        connection.metadata_fetched_at = connection.metadata_checked_at = utcnow()
        connection.metadata_error = None
    connection.email_attribute, connection.groups_attribute = email_attribute[:255], groups_attribute[:255]
    connection.default_role = Role(default_role)
    connection.group_mappings.clear()
    db.session.flush()  # the old mappings' rows go before new ones may reuse their group names
    for position, (group_name, role) in enumerate(group_mappings[:MAX_GROUP_MAPPINGS]):
        if Role(role) not in MAPPABLE_ROLES:
            raise ServiceError("Choose admin, member or viewer.", field="role")
        connection.group_mappings.append(SsoGroupMapping(org_id=org.id, connection_id=connection.id,
                                                         group_name=group_name, role=Role(role), position=position))
    connection.last_test_succeeded_at = utcnow()
    mark_changed(connection)
    db.session.flush()
    _emit_configured(org, connection, actor, change,
                     f"The identity provider was set up after a passing test login: entity ID {entity_id}, "
                     f"{len(connection.certificates)} certificate(s), {len(connection.group_mappings)} group mapping(s).")
    return connection


# --- Options and role mapping ---------------------------------------------------------------------

def update_options(org, actor, default_role, allow_idp_initiated, email_attribute="", groups_attribute=""):
    connection = ensure_connection(org)
    role = Role(default_role) if default_role in {r.value for r in MAPPABLE_ROLES} else None
    if role is None:
        raise ServiceError("Choose admin, member or viewer.", field="default_role")
    connection.default_role = role
    connection.allow_idp_initiated = bool(allow_idp_initiated)
    connection.email_attribute = (email_attribute or "").strip()[:255]
    connection.groups_attribute = (groups_attribute or "").strip()[:255]
    mark_changed(connection)
    db.session.flush()
    _emit_configured(org, connection, actor, "options",
                     f"Options changed: new members get the role {role.value}; IdP-initiated login is "
                     f"{'allowed' if connection.allow_idp_initiated else 'refused'}.")
    return connection


def add_group_mapping(org, actor, group_name, role):
    connection = ensure_connection(org)
    group_name = (group_name or "").strip()
    if not group_name or len(group_name) > 255:
        raise ServiceError("Enter the group name (or ID) exactly as the IdP sends it.", field="group_name")
    if role not in {r.value for r in MAPPABLE_ROLES}:
        raise ServiceError("Choose admin, member or viewer.", field="role")
    if any(m.group_name == group_name for m in connection.group_mappings):
        raise ServiceError("That group is already mapped.", field="group_name", code="conflict")
    if len(connection.group_mappings) >= MAX_GROUP_MAPPINGS:
        raise ServiceError(f"At most {MAX_GROUP_MAPPINGS} mappings.", field="group_name")
    position = max((m.position for m in connection.group_mappings), default=-1) + 1
    mapping = SsoGroupMapping(org_id=org.id, connection_id=connection.id, group_name=group_name, role=Role(role),
                              position=position)
    connection.group_mappings.append(mapping)
    mark_changed(connection)
    db.session.flush()
    _emit_configured(org, connection, actor, "group_mapping_added",
                     f"Members of the IdP group {group_name} now get the role {role}.")
    return mapping


def move_group_mapping(org, connection, mapping, direction, actor):
    """Swap a mapping with its neighbour: the first matching mapping gives the role."""
    ordered = sorted(connection.group_mappings, key=lambda m: m.position)
    index = ordered.index(mapping)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
        for position, row in enumerate(ordered):
            row.position = position
        mark_changed(connection)
        db.session.flush()
        _emit_configured(org, connection, actor, "group_mapping_reordered",
                         f"The IdP group {mapping.group_name} (role {Role(mapping.role).value}) moved {direction} "
                         "in priority.")


def remove_group_mapping(org, connection, mapping, actor):
    connection.group_mappings.remove(mapping)
    mark_changed(connection)
    db.session.flush()
    _emit_configured(org, connection, actor, "group_mapping_removed",
                     f"The mapping of the IdP group {mapping.group_name} to {Role(mapping.role).value} was removed.")


def role_for_groups(connection, groups):
    """The role the IdP's groups give: the first mapping (by priority) naming one of them, else None."""
    from services.sso.saml import group_roles
    groups = set(groups or ())
    for group_name, role in group_roles(connection):
        if group_name in groups:
            return Role(role)
    return None


def _emit_configured(org, connection, actor, change, summary):
    """sso.configured is a trust change: audited and emailed to every owner (services/trust.py)."""
    record_trust_change(org, actor=actor, action="sso.configured", summary=summary,
                        targets=[connection_target(connection)],
                        data={"change": change, "idp_entity_id": connection.idp_entity_id,
                              "certificates": len(connection.certificates),
                              "allow_idp_initiated": connection.allow_idp_initiated,
                              "require_sso": connection.require_sso})
