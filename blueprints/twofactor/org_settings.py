"""An org's two-factor requirement: who must have a second factor to open its pages after a password
login (tenancy.py enforces it; services/twofactor.py decides).

    GET   /app/o/<org_slug>/settings/two-factor   org_two_factor_settings   (owners and admins see it)
    POST  /app/o/<org_slug>/settings/two-factor   org_two_factor_update     (owners change it: trust)
"""
from flask import flash, redirect, url_for

from blueprints.formtools import apply_service_error
from blueprints.twofactor.forms import RequirementForm
from extensions import db
from htmx import render_page
from models import TwoFactorRequirement
from request_context import current_actor
from services import ServiceError, twofactor
from tenancy import current_org, org_blueprint, requires

bp = org_blueprint("twofactor_org", __name__, "/settings/two-factor")


@bp.route("")
@requires("org.manage")
def org_two_factor_settings():
    """Who must use two-factor, and who lacks it today."""
    return _render(RequirementForm(formdata=None, requirement=TwoFactorRequirement(current_org.two_factor_required).value))


@bp.route("", methods=["POST"])
@requires("trust.manage")
def org_two_factor_update():
    """Change the requirement (owners only; audited, and every admin is told)."""
    form = RequirementForm()
    if form.validate_on_submit():
        try:
            changed = twofactor.set_requirement(current_org, form.requirement.data, current_actor())
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            requirement = TwoFactorRequirement(current_org.two_factor_required)
            flash(f"Two-factor authentication: {twofactor.REQUIREMENT_LABELS[requirement].lower()}." if changed
                  else "Nothing to change.", "success" if changed else "info")
            return redirect(url_for("twofactor_org.org_two_factor_settings"), 303)
    return _render(form, status=422)


def _render(form, status=200):
    lacking = {requirement: twofactor.members_without_two_factor(current_org, requirement)
               for requirement in (TwoFactorRequirement.admins, TwoFactorRequirement.everyone)}
    return render_page("twofactor/org_settings.html", status=status, form=form, lacking=lacking,
                       labels=twofactor.REQUIREMENT_LABELS,
                       current=TwoFactorRequirement(current_org.two_factor_required))
