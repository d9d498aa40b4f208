"""An org's overview and general settings."""
from blueprints.orgs import bp
from htmx import render_page
from services import orgs
from tenancy import current_org, requires


@bp.route("/")
@requires("org.read")
def org_overview():
    """The workspace at a glance."""
    return render_page("orgs/overview.html", member_count=orgs.member_count(current_org.id))
