"""SCIM settings: turn provisioning on, tokens, group-to-role mapping, the request log.

What the org trusts (SCIM on/off, tokens, the roles SCIM gives) is changed by owners only
(trust.manage); admins read the page, its tokens' state and the request log (scim.manage)."""
from flask import current_app, flash, redirect, url_for

from blueprints.formtools import apply_service_error
from blueprints.scim import bp
from blueprints.scim.forms import ConfirmForm, DefaultRoleForm, EnableForm, GroupRoleForm
from extensions import db
from htmx import render_page
from models import ScimGroup, ScimToken
from request_context import current_actor
from services import ServiceError
from services.credentials import CREATOR_REASONS
from services.scim import provisioning, settings
from tenancy import current_org, requires

TEMPLATE = "scim/settings.html"


def _page(status=200, new_token=None, token_error=None, default_role_form=None):
    config = provisioning.ensure_config(current_org)
    tokens = db.session.scalars(ScimToken.for_org(current_org.id).order_by(ScimToken.created_at.desc())).all()
    default_role_form = default_role_form or DefaultRoleForm(default_role=config.default_role.value)
    groups = settings.groups_with_counts(current_org.id)
    return render_page(
        TEMPLATE, status=status,
        config=config,
        base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/scim/v2",
        tokens=tokens,
        live_count=sum(1 for t in tokens if t.is_live),
        max_live=settings.MAX_LIVE_TOKENS,
        new_token=new_token,
        token_error=token_error,
        enable_form=EnableForm(),
        default_role_form=default_role_form,
        group_rows=[(group, members, GroupRoleForm(prefix=f"g{group.id.hex}", role=group.role.value if group.role else ""))
                    for group, members in groups],
        roles_managed=any(group.role for group, _ in groups),
        requests=settings.recent_requests(current_org.id),
        revocation_note=settings.revocation_note,
        stopped_by_creator=[t for t in tokens if t.revoked_reason in CREATOR_REASONS and not any(x.is_live for x in tokens)][:1],
    )


@bp.route("")
@requires("scim.manage")
def scim_settings():
    """SCIM provisioning: status, base URL, tokens, role mapping and the request log."""
    return _page()


@bp.route("/enabled", methods=["POST"])
@requires("trust.manage")
def scim_settings_update():
    """Turn SCIM provisioning on or off."""
    form = EnableForm()
    if not form.validate_on_submit():
        flash("Choose on or off.", "error")
        return redirect(url_for("scim.scim_settings"), 303)
    enabled = form.enabled.data == "on"
    settings.set_enabled(current_org, enabled, current_actor())
    db.session.commit()
    flash("SCIM provisioning is on." if enabled else "SCIM provisioning is off: the identity provider's requests are refused.", "success")
    return redirect(url_for("scim.scim_settings"), 303)


@bp.route("/default-role", methods=["POST"])
@requires("trust.manage")
def scim_default_role_update():
    """The role of provisioned people who are in no mapped group."""
    form = DefaultRoleForm()
    if not form.validate_on_submit():
        return _page(422, default_role_form=form)
    try:
        settings.set_default_role(current_org, form.default_role.data, current_actor())
    except ServiceError as error:
        apply_service_error(form, error)
        return _page(422, default_role_form=form)
    db.session.commit()
    flash("Default role saved.", "success")
    return redirect(url_for("scim.scim_settings") + "#roles", 303)


@bp.route("/tokens", methods=["POST"])
@requires("trust.manage")
def scim_tokens_create():
    """Generate a token; it is shown once, on this response."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _page(422, token_error="The form expired. Try again.")
    try:
        _, token = settings.create_token(current_org, current_actor())
    except ServiceError as error:
        return _page(422, token_error=error.message)
    db.session.commit()
    return _page(new_token=token)


@bp.route("/tokens/<token_id>/revoke", methods=["GET", "POST"])
@requires("trust.manage")
def scim_tokens_revoke(token_id):
    """Revoke a token (GET asks for confirmation, for browsers without JavaScript)."""
    token = ScimToken.get_for_org_or_404(current_org.id, token_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        settings.revoke_token(current_org, token, current_actor())
        db.session.commit()
        flash(f"Token {token.prefix}… revoked: requests with it are refused from now on.", "success")
        return redirect(url_for("scim.scim_settings") + "#tokens", 303)
    return render_page("scim/revoke_token.html", token=token, form=form)


@bp.route("/groups/<group_id>/role", methods=["POST"])
@requires("trust.manage")
def scim_group_roles_update(group_id):
    """Map a SCIM group to a role (or none)."""
    group = ScimGroup.get_for_org_or_404(current_org.id, group_id)
    form = GroupRoleForm(prefix=f"g{group.id.hex}")
    if not form.validate_on_submit():
        flash("Choose a role.", "error")
        return redirect(url_for("scim.scim_settings") + "#roles", 303)
    try:
        settings.map_group_role(current_org, group, form.role.data or None, current_actor())
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("scim.scim_settings") + "#roles", 303)
    db.session.commit()
    flash(f"Members of {group.display_name} now get " + (f"the {form.role.data} role." if form.role.data else "no role from it."), "success")
    return redirect(url_for("scim.scim_settings") + "#roles", 303)
