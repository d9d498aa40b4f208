"""Public documentation of Orgkit's SCIM service provider at /docs/scim: what an identity provider's
admin needs before they can sign in, and what ServiceProviderConfig's documentationUri points at."""
from flask import Blueprint, current_app, render_template

from services.scim import MAX_RESULTS
from services.scim.schema import GROUP_ATTRIBUTES, USER_ATTRIBUTES
from tenancy import public_page

bp = Blueprint("scim_docs", __name__, url_prefix="/docs")


@bp.get("/scim")
@public_page
def scim_docs():
    """How provisioning works: the base URL, tokens, accounts and roles, and the attributes kept."""
    return render_template(
        "scim/docs.html", base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/scim/v2",
        max_results=MAX_RESULTS, user_attributes=USER_ATTRIBUTES, group_attributes=GROUP_ATTRIBUTES,
        rate_limit=current_app.config["SCIM_RATE_LIMIT"],
    )
