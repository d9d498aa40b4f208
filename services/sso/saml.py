"""python3-saml, configured per org: settings built once per connection version and cached in the
process, the SP's URLs from PUBLIC_BASE_URL (never the Host header), SP metadata and AuthnRequests."""
import threading
from collections import OrderedDict
from os.path import dirname, join
from urllib.parse import urlsplit

import onelogin.saml2.xml_utils
from flask import current_app
from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from services import crypto

_CACHE_LIMIT = 256
_settings_cache = OrderedDict()
_cache_lock = threading.Lock()


# python3-saml 1.16 (OneLogin_Saml2_XML.validate_xml) reads and compiles its XSD, the SAML protocol schema
# and the four it imports, on every response it validates in strict mode: 2.3 ms of compiling against
# 1.6 ms of everything else python3-saml does for a response (bench/saml.py). The compiled schema is
# kept, one per thread and schema file: an lxml XMLSchema keeps the last validation's error log on
# itself, so one object must not serve two threads at once. Same checks, same answers
# ('unloaded_xml', 'invalid_xml' or the parsed document), the same schema files.
SHIPPED_VALIDATE_XML = OneLogin_Saml2_XML.validate_xml
_SCHEMA_DIR = join(dirname(onelogin.saml2.xml_utils.__file__), "schemas")
_compiled_schemas = threading.local()


def _compiled_schema(name):
    schemas = _compiled_schemas.__dict__
    schema = schemas.get(name)
    if schema is None:
        with open(join(_SCHEMA_DIR, name), "rb") as schema_file:
            schema = schemas[name] = OneLogin_Saml2_XML._schema_class(etree.parse(schema_file))
    return schema


def validate_xml(xml, schema, debug=False):
    """OneLogin_Saml2_XML.validate_xml with the schema compiled once per thread."""
    try:
        xml = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:  # python3-saml's own answer for anything it cannot parse
        return "unloaded_xml"
    if not _compiled_schema(schema).validate(xml):
        return "invalid_xml"
    return xml


OneLogin_Saml2_XML.validate_xml = staticmethod(validate_xml)


def base_url():
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def sp_path(org_id, name):
    """/sso/<org id>/<name>: the org's id, not its slug, so renaming a workspace never breaks the IdP."""
    return f"/sso/{org_id}/{name}"


def sp_entity_id(org_id):
    return base_url() + sp_path(org_id, "metadata")


def acs_url(org_id):
    return base_url() + sp_path(org_id, "acs")


def metadata_url(org_id):
    return sp_entity_id(org_id)


def _settings_dict(connection):
    org_id = connection.org_id
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": sp_entity_id(org_id),
            "assertionConsumerService": {"url": acs_url(org_id), "binding": C.BINDING_HTTP_POST},
            "NameIDFormat": C.NAMEID_UNSPECIFIED,
            "x509cert": connection.sp_certificate,
            "privateKey": crypto.decrypt(connection.sp_private_key_encrypted),
        },
        "idp": {
            "entityId": connection.idp_entity_id or "",
            "singleSignOnService": {"url": connection.idp_sso_url or "", "binding": C.BINDING_HTTP_REDIRECT},
            # The certificates themselves, never fingerprints: several during a rollover.
            "x509certMulti": {"signing": [cert.pem for cert in connection.certificates]},
        },
        "security": {
            "authnRequestsSigned": bool(connection.sign_authn_requests),
            "wantAssertionsSigned": True,
            "wantMessagesSigned": False,
            "wantNameId": True,
            "wantAttributeStatement": False,
            "requestedAuthnContext": False,
            "rejectDeprecatedAlgorithm": True,
            # A response carrying InResponseTo with no request of ours behind it is refused.
            "rejectUnsolicitedResponsesWithInResponseTo": True,
            "signatureAlgorithm": C.RSA_SHA256,
            "digestAlgorithm": C.SHA256,
            "allowRepeatAttributeName": True,
        },
    }


def settings_for(connection, sp_only=False):
    """OneLogin_Saml2_Settings for this connection, cached per (connection, version, base URL):
    building it re-parses and checks every certificate, which is most of a login's cost otherwise.
    sp_only: settings for the SP's metadata, usable before the IdP is configured."""
    key = (connection.id, connection.version, base_url(), current_app.config["SECRET_KEY"], sp_only)
    with _cache_lock:
        settings = _settings_cache.get(key)
        if settings is not None:
            _settings_cache.move_to_end(key)
            return settings
    settings = OneLogin_Saml2_Settings(_settings_dict(connection), sp_validation_only=sp_only)
    with _cache_lock:
        _settings_cache[key] = settings
        while len(_settings_cache) > _CACHE_LIMIT:
            _settings_cache.popitem(last=False)
    return settings


def group_roles(connection):
    """((group, role), ...) in priority order, cached like the settings: the group mapping is read on
    every login and changes rarely (every change bumps the connection's version)."""
    key = (connection.id, connection.version, "group_roles")
    with _cache_lock:
        cached = _settings_cache.get(key)
    if cached is None:
        cached = tuple((m.group_name, m.role) for m in sorted(connection.group_mappings, key=lambda m: m.position))
        with _cache_lock:
            _settings_cache[key] = cached
    return cached


def request_data(path, post_data=None, get_data=None):
    """What python3-saml reads of "the current request", taken from PUBLIC_BASE_URL: behind a proxy
    the public URL is what the Destination and Recipient checks must compare against."""
    parts = urlsplit(base_url())
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path.rstrip("/") + path,
        "get_data": get_data or {},
        "post_data": post_data or {},
    }


def sp_metadata_xml(connection):
    settings = settings_for(connection, sp_only=True)
    xml = settings.get_sp_metadata()
    errors = settings.validate_metadata(xml)
    if errors:
        raise ValueError(f"SP metadata invalid: {errors}")
    return xml


def authn_request(connection, relay_state):
    """(redirect URL to the IdP, AuthnRequest ID); the request is signed when the IdP asked for it."""
    auth = OneLogin_Saml2_Auth(request_data(sp_path(connection.org_id, "login")), settings_for(connection))
    url = auth.login(return_to=relay_state)
    return url, auth.get_last_request_id()


def new_auth(connection, saml_response, relay_state):
    data = request_data(sp_path(connection.org_id, "acs"),
                        post_data={"SAMLResponse": saml_response, "RelayState": relay_state or ""})
    return OneLogin_Saml2_Auth(data, settings_for(connection))
