"""SAML single sign-on per org (DESIGN.md section 7; issue 6).

    config.py       the connection: IdP metadata import, certificates, role mapping, options
    domains.py      claimed email domains and their DNS TXT verification
    saml.py         python3-saml settings (cached per connection version), SP metadata, AuthnRequests
    login.py        the ACS: validation, replay cache, JIT provisioning, the SSO log
    enforcement.py  Require SSO: who must log in through SSO, and the owners' break-glass
"""
