from flask import Blueprint

from tenancy import attach_org_pages

# One blueprint for both sides of SSO: the org's settings pages (/app/o/<org_slug>/settings/sso/...,
# loaded and authorized like every org page) and the public SAML endpoints (/sso/...) that browsers
# and IdPs reach without an org session.
bp = attach_org_pages(Blueprint("sso", __name__))

from blueprints.sso import public, routes  # noqa: E402,F401
