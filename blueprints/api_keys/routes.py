"""API keys of an org.

    GET       /settings/api-keys                       api_keys_list
    POST      /settings/api-keys                       api_keys_create (the key is shown once, on this response)
    GET,POST  /settings/api-keys/<api_key_id>/revoke   api_keys_revoke (GET asks to confirm)
"""
from flask import current_app, flash, redirect, url_for
from flask_login import current_user

from blueprints.api_keys import bp
from blueprints.api_keys.forms import SCOPE_CHOICES, ConfirmForm, CreateKeyForm
from blueprints.formtools import apply_service_error
from extensions import db
from htmx import render_page
from models import ApiKey, utcnow
from request_context import current_actor
from services import ServiceError, api_keys
from tenancy import current_membership, current_org, requires


def _create_form(form=None):
    form = form or CreateKeyForm()
    allowed = api_keys.scopes_for_role(current_membership.role)
    form.scope.choices = [choice for choice in SCOPE_CHOICES if choice.value in allowed]
    return form


def _page(status=200, form=None, new_key=None, new_row=None):
    return render_page(
        "api_keys/list.html", status=status,
        keys=api_keys.keys_of_org(current_org.id),
        now=utcnow(),
        form=_create_form(form),
        new_key=new_key, new_row=new_row,
        base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/api/v1",
    )


@bp.route("")
@requires("api_keys.manage")
def api_keys_list():
    """Keys with their scopes and last use, the create form and curl examples."""
    return _page()


@bp.route("", methods=["POST"])
@requires("api_keys.manage")
def api_keys_create():
    """Create a key; it is shown once, on this response."""
    form = _create_form()
    if not form.validate_on_submit():
        return _page(422, form=form)
    try:
        row, key = api_keys.create_key(
            current_org, form.name.data, [form.scope.data], current_actor(), created_by=current_user,
            creator_role=current_membership.role, expires_at=api_keys.parse_expiry(form.expires_on.data))
    except ServiceError as error:
        if error.field == "expires_at":
            error.field = "expires_on"
        if error.field == "scopes":
            error.field = "scope"
        apply_service_error(form, error)
        return _page(422, form=form)
    db.session.commit()
    return _page(form=CreateKeyForm(formdata=None), new_key=key, new_row=row)  # an empty form for the next key


@bp.route("/<api_key_id>/revoke", methods=["GET", "POST"])
@requires("api_keys.manage")
def api_keys_revoke(api_key_id):
    """Revoke a key (GET asks for confirmation, for browsers without JavaScript)."""
    key = ApiKey.get_for_org_or_404(current_org.id, api_key_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        api_keys.revoke_key(current_org, key, current_actor())
        db.session.commit()
        flash(f"Key {key.name} ({key.prefix}…{key.last_four}) revoked: requests with it are refused from now on.", "success")
        return redirect(url_for("api_keys.api_keys_list") + "#keys", 303)
    return render_page("api_keys/revoke.html", key=key, form=form)
