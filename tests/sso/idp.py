"""An independent SAML IdP for tests: pysaml2's Server signing real responses with Debian's xmlsec1.

Keys and certificates are made at test time with `cryptography` (no private key is committed).
TestIdP.response(...) returns the base64 SAMLResponse to post to the ACS; `tamper` mutates the XML
after pysaml2 built it, and `resign` signs the assertion again after the mutation (so only the
check under test can refuse it, not the signature).
"""
import base64
import os
import re
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server

XMLSEC = "/usr/bin/xmlsec1"
ENTITY_ID = "https://idp.test.example/metadata"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
DIGEST_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
ASSERTION_NODE = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"


def make_key_pair(common_name="Test IdP", days=365, not_before=None):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or datetime.now(timezone.utc) - timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=days)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def cert_body(pem):
    return "".join(line for line in pem.strip().splitlines() if "CERTIFICATE" not in line)


class TestIdP:
    __test__ = False

    def __init__(self, sp_metadata_xml, sso_url="https://idp.test.example/sso", entity_id=ENTITY_ID, key_pair=None,
                 want_authn_requests_signed=False):
        self.entity_id = entity_id
        self.sso_url = sso_url
        self.key_pem, self.cert_pem = key_pair or make_key_pair()
        self.dir = tempfile.mkdtemp(prefix="orgkit-idp-")
        self.key_file = os.path.join(self.dir, "idp.key")
        self.cert_file = os.path.join(self.dir, "idp.crt")
        with open(self.key_file, "w") as f:
            f.write(self.key_pem)
        with open(self.cert_file, "w") as f:
            f.write(self.cert_pem)
        self.want_authn_requests_signed = want_authn_requests_signed
        config = IdPConfig()
        config.load({
            "entityid": entity_id,
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT)]},
                "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                       "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}},
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "want_authn_requests_signed": want_authn_requests_signed,
            }},
            "key_file": self.key_file,
            "cert_file": self.cert_file,
            "xmlsec_binary": XMLSEC,
            "metadata": {"inline": [sp_metadata_xml]},
            "allow_unknown_attributes": True,
        })
        self.server = Server(config=config)

    def metadata_xml(self):
        signed = "true" if self.want_authn_requests_signed else "false"
        return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{self.entity_id}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="{signed}" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>
      <ds:X509Certificate>{cert_body(self.cert_pem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{self.sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

    @staticmethod
    def parse_authn_request(redirect_url):
        """(request id, relay state, parsed AuthnRequest) from the SP's redirect to the IdP."""
        from saml2.samlp import authn_request_from_string
        import zlib
        query = parse_qs(urlsplit(redirect_url).query)
        xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()
        request = authn_request_from_string(xml)
        return request.id, query.get("RelayState", [""])[0], request

    def response_xml(self, email, acs_url, audience, in_response_to=None, name_id=None, attributes=None,
                     sign=True, destination=None, sign_alg=None, digest_alg=None):
        identity = {"email": [email], "firstName": ["Ada"], "lastName": ["Lovelace"]}
        identity.update(attributes or {})
        response = self.server.create_authn_response(
            identity=identity, in_response_to=in_response_to, destination=destination or acs_url,
            sp_entity_id=audience, name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=name_id or email),
            userid=email, sign_assertion=sign, sign_response=False, sign_alg=sign_alg or RSA_SHA256,
            digest_alg=digest_alg or DIGEST_SHA256,
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
                   "authn_auth": self.entity_id},
        )
        return str(response)

    def resign(self, xml):
        """Sign the assertion again after a mutation (xmlsec1 recomputes digest and signature)."""
        assertion_id = re.search(r'<(?:\w+:)?Assertion[^>]*\sID="([^"]+)"', xml).group(1)
        return self.server.sec.sign_statement(xml, ASSERTION_NODE, node_id=assertion_id)

    def response(self, email, acs_url, audience, tamper=None, resign=False, **kwargs):
        xml = self.response_xml(email, acs_url, audience, **kwargs)
        if tamper is not None:
            xml = tamper(xml)
            if resign:
                xml = self.resign(xml)
        return base64.b64encode(xml.encode()).decode()


def saml_time(delta):
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id():
    return "_" + uuid.uuid4().hex
