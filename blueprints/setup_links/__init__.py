from flask import Blueprint

from tenancy import attach_org_pages

# One blueprint for both sides of setup links: the owners' page that makes and revokes them
# (/app/o/<org_slug>/settings/setup-links, an org page like any other) and the pages the link opens
# for the IT admin (/setup/..., public: the link, not an account, is the credential).
bp = attach_org_pages(Blueprint("setup_links", __name__))

from blueprints.setup_links import parts, public, routes  # noqa: E402,F401
