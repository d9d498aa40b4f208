"""SSO settings of an org, under /app/o/<org_slug>/settings/sso. Owners and admins (sso.manage) see
them and run Test SSO; only owners (trust.manage) change what the org trusts, and every such change is
emailed to all owners (services/trust.py, issue 13 "Owner-only trust").

    GET       ""                                         sso_settings (values for the IdP, IdP, options, log)
    POST      /idp/metadata                              sso_idp_metadata_import (paste or upload)
    POST      /idp/metadata-url                          sso_idp_metadata_url (fetched through the egress guard)
    POST      /idp/metadata-url/refresh                  sso_idp_metadata_refresh
    POST      /idp/manual                                sso_idp_manual
    POST      /certificates                              sso_certificates_create
    GET,POST  /certificates/<sso_certificate_id>/delete  sso_certificates_delete (GET asks to confirm)
    POST      /options                                   sso_options_update
    POST      /group-mappings                            sso_group_mappings_create
    POST      /group-mappings/<group_mapping_id>/move    sso_group_mappings_move
    POST      /group-mappings/<group_mapping_id>/delete  sso_group_mappings_delete
    POST      /domains                                   sso_domains_create
    POST      /domains/<sso_domain_id>/check             sso_domains_check
    GET,POST  /domains/<sso_domain_id>/delete            sso_domains_delete (GET asks to confirm)
    POST      /test                                      sso_test_start (a real login through the IdP)
    GET       /require                                   sso_require_show (who it affects)
    POST      /require                                   sso_require_update
    GET       /log/<login_attempt_id>                    sso_log_show (an attempt; a test's decoded attributes)
    GET,POST  /identities/<sso_identity_id>/delete       sso_identities_delete (unlink; GET asks to confirm)
"""
from datetime import timedelta

from flask import flash, redirect, request, url_for

from blueprints.formtools import apply_service_error, continue_to
from blueprints.sso import bp
from blueprints.sso.forms import (CertificateForm, ConfirmForm, DomainForm, GroupMappingForm, ManualIdpForm,
                                  MetadataForm, MetadataUrlForm, MoveForm, OptionsForm, RequireSsoForm)
from extensions import db
from htmx import render_page
from models import SsoCertificate, SsoDomain, SsoGroupMapping, SsoIdentity, SsoLoginAttempt, utcnow
from request_context import current_actor
from services import ServiceError
from services.sso import config as sso_config
from services.sso import domains, enforcement, login as sso_login_service, saml
from services.sso import identities as sso_identities
from tenancy import can, current_org, requires

PREFIX = "/app/o/<org_slug>/settings/sso"
EXPIRY_WARNING_DAYS = 30


def _settings_url(anchor=""):
    return url_for("sso.sso_settings") + (f"#{anchor}" if anchor else "")


def _page(status=200, **forms):
    connection = sso_config.get_connection(current_org.id)
    org_domains = db.session.scalars(SsoDomain.for_org(current_org.id).order_by(SsoDomain.domain)).all()
    now = utcnow()
    defaults = {
        "metadata_form": MetadataForm(formdata=None),
        "metadata_url_form": MetadataUrlForm(formdata=None, metadata_url=connection.metadata_url if connection else ""),
        "manual_form": ManualIdpForm(formdata=None, obj=None, entity_id=connection.idp_entity_id if connection else "",
                                     sso_url=connection.idp_sso_url if connection else "",
                                     sign_authn_requests=connection.sign_authn_requests if connection else False),
        "certificate_form": CertificateForm(formdata=None),
        "options_form": OptionsForm(formdata=None, obj=connection) if connection else OptionsForm(formdata=None),
        "mapping_form": GroupMappingForm(formdata=None),
        "domain_form": DomainForm(formdata=None),
    }
    defaults.update(forms)
    if connection is not None and "options_form" not in forms:
        defaults["options_form"].default_role.data = connection.default_role.value
    return render_page(
        "sso/settings.html", status=status, connection=connection, domains=org_domains,
        sp={"entity_id": saml.sp_entity_id(current_org.id), "acs_url": saml.acs_url(current_org.id),
            "metadata_url": saml.metadata_url(current_org.id)},
        txt_value=domains.txt_record_value, now=now, warn_before=now + timedelta(days=EXPIRY_WARNING_DAYS),
        attempts=sso_login_service.recent_attempts(current_org.id), confirm_form=ConfirmForm(),
        may_change_trust=can("trust.manage"), identities=sso_identities.recent_in_org(current_org.id),
        **defaults,
    )


def _done(message, anchor=""):
    db.session.commit()
    flash(message, "success")
    return redirect(_settings_url(anchor), 303)


def _act(form, action, message, anchor, form_name):
    """Validate form, run action(); on a ServiceError show the page with the error under its field."""
    if form.validate_on_submit():
        try:
            action()
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            return _done(message, anchor)
    return _page(422, **{form_name: form})


@bp.route(PREFIX)
@requires("sso.manage")
def sso_settings():
    """Values to give the IdP, the IdP's configuration, roles, domains, Test SSO, Require SSO and the log."""
    if sso_config.get_connection(current_org.id) is None:
        # The SP metadata URL shown here must work from now on: its key pair is made here, by an
        # admin, never by the anonymous metadata GET.
        sso_config.ensure_connection(current_org)
        db.session.commit()
    return _page()


@bp.route(PREFIX + "/idp/metadata", methods=["POST"])
@requires("trust.manage")
def sso_idp_metadata_import():
    """Configure the IdP from pasted or uploaded metadata XML."""
    form = MetadataForm()

    def action():
        upload = form.metadata_file.data
        xml = upload.read(sso_config.MAX_METADATA_BYTES + 1) if upload and getattr(upload, "filename", "") else form.metadata_xml.data
        sso_config.import_metadata(current_org, current_actor(), xml)
    return _act(form, action, "Identity provider configured from its metadata. Run a test login next.", "idp", "metadata_form")


@bp.route(PREFIX + "/idp/metadata-url", methods=["POST"])
@requires("trust.manage")
def sso_idp_metadata_url():
    """Configure the IdP from its metadata URL (fetched now through the egress guard)."""
    form = MetadataUrlForm()
    return _act(form, lambda: sso_config.import_metadata_url(current_org, current_actor(), form.metadata_url.data),
                "Identity provider configured from its metadata URL. Run a test login next.", "idp", "metadata_url_form")


@bp.route(PREFIX + "/idp/metadata-url/refresh", methods=["POST"])
@requires("trust.manage")
def sso_idp_metadata_refresh():
    """Fetch the metadata URL again (picks up a certificate rollover)."""
    connection = sso_config.get_connection(current_org.id)
    if connection is None or not connection.metadata_url:
        flash("No metadata URL is set.", "error")
        return redirect(_settings_url("idp"), 303)
    try:
        sso_config.refresh_metadata(current_org, connection, current_actor())
    except ServiceError as error:
        db.session.commit()  # the error is kept on the connection
        flash(f"The metadata could not be refreshed: {error.message}", "error")
        return redirect(_settings_url("idp"), 303)
    return _done("Metadata refreshed.", "idp")


@bp.route(PREFIX + "/idp/manual", methods=["POST"])
@requires("trust.manage")
def sso_idp_manual():
    """Configure the IdP by hand: entity ID, SSO URL and a certificate."""
    form = ManualIdpForm()
    return _act(form, lambda: sso_config.set_idp_manually(current_org, current_actor(), form.entity_id.data,
                                                          form.sso_url.data, form.certificate.data,
                                                          form.sign_authn_requests.data),
                "Identity provider saved. Run a test login next.", "idp", "manual_form")


@bp.route(PREFIX + "/certificates", methods=["POST"])
@requires("trust.manage")
def sso_certificates_create():
    """Add an IdP signing certificate (rollover: both are trusted until the old one is removed)."""
    form = CertificateForm()
    action = lambda: sso_config.add_idp_certificate(current_org, current_actor(), form.certificate.data)  # noqa: E731
    return _act(form, action, "Certificate added.", "certificates", "certificate_form")


@bp.route(PREFIX + "/certificates/<sso_certificate_id>/delete", methods=["GET", "POST"])
@requires("trust.manage")
def sso_certificates_delete(sso_certificate_id):
    """Stop trusting a certificate (GET asks for confirmation)."""
    certificate = SsoCertificate.get_for_org_or_404(current_org.id, sso_certificate_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        connection = certificate.connection
        if len(connection.certificates) <= 1:
            flash("This is the only certificate: add the new one before removing it.", "error")
            return redirect(_settings_url("certificates"), 303)
        sso_config.remove_certificate(current_org, connection, certificate, current_actor())
        return _done("Certificate removed: responses signed with it are refused from now on.", "certificates")
    return render_page("sso/confirm.html", form=form, title="Remove this certificate?",
                       text=f"Responses signed with {certificate.subject or 'this certificate'} will be refused.",
                       action=url_for("sso.sso_certificates_delete", sso_certificate_id=certificate.id),
                       button="Remove certificate")


@bp.route(PREFIX + "/options", methods=["POST"])
@requires("trust.manage")
def sso_options_update():
    """Default role, IdP-initiated login, attribute names."""
    form = OptionsForm()
    return _act(form, lambda: sso_config.update_options(current_org, current_actor(), form.default_role.data,
                                                        form.allow_idp_initiated.data, form.email_attribute.data,
                                                        form.groups_attribute.data),
                "Options saved.", "options", "options_form")


@bp.route(PREFIX + "/group-mappings", methods=["POST"])
@requires("trust.manage")
def sso_group_mappings_create():
    """Map an IdP group to a role (appended last in priority)."""
    form = GroupMappingForm()
    return _act(form, lambda: sso_config.add_group_mapping(current_org, current_actor(), form.group_name.data,
                                                           form.role.data),
                "Group mapping added.", "roles", "mapping_form")


@bp.route(PREFIX + "/group-mappings/<group_mapping_id>/move", methods=["POST"])
@requires("trust.manage")
def sso_group_mappings_move(group_mapping_id):
    """Raise or lower a mapping's priority."""
    mapping = SsoGroupMapping.get_for_org_or_404(current_org.id, group_mapping_id)
    form = MoveForm()
    if form.validate_on_submit() and form.direction.data in ("up", "down"):
        sso_config.move_group_mapping(current_org, mapping.connection, mapping, form.direction.data, current_actor())
        return _done("Priority changed.", "roles")
    flash("Choose up or down.", "error")
    return redirect(_settings_url("roles"), 303)


@bp.route(PREFIX + "/group-mappings/<group_mapping_id>/delete", methods=["POST"])
@requires("trust.manage")
def sso_group_mappings_delete(group_mapping_id):
    """Remove a mapping (re-adding it restores it)."""
    mapping = SsoGroupMapping.get_for_org_or_404(current_org.id, group_mapping_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("The form expired. Try again.", "error")
        return redirect(_settings_url("roles"), 303)
    sso_config.remove_group_mapping(current_org, mapping.connection, mapping, current_actor())
    return _done(f"Mapping of {mapping.group_name} removed.", "roles")


@bp.route(PREFIX + "/domains", methods=["POST"])
@requires("trust.manage")
def sso_domains_create():
    """Claim an email domain; its DNS TXT record is checked now and on a retry schedule."""
    form = DomainForm()

    def action():
        domain = domains.add_domain(current_org, form.domain.data, current_actor())
        domains.request_check(domain)
    return _act(form, action, "Domain added. Publish the TXT record shown; Orgkit checks it for you.", "domains",
                "domain_form")


@bp.route(PREFIX + "/domains/<sso_domain_id>/check", methods=["POST"])
@requires("trust.manage")
def sso_domains_check(sso_domain_id):
    """Check the TXT record again now (and restart the retry schedule)."""
    domain = SsoDomain.get_for_org_or_404(current_org.id, sso_domain_id)
    if domain.is_verified:
        flash(f"{domain.domain} is already verified.", "info")
        return redirect(_settings_url("domains"), 303)
    domains.request_check(domain)
    return _done(f"Checking {domain.domain}'s TXT record. Reload in a moment.", "domains")


@bp.route(PREFIX + "/domains/<sso_domain_id>/delete", methods=["GET", "POST"])
@requires("trust.manage")
def sso_domains_delete(sso_domain_id):
    """Stop claiming a domain (GET asks for confirmation)."""
    domain = SsoDomain.get_for_org_or_404(current_org.id, sso_domain_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        domains.remove_domain(current_org, domain, current_actor())
        return _done(f"{domain.domain} removed: its addresses no longer log in through your IdP.", "domains")
    return render_page("sso/confirm.html", form=form, title=f"Remove {domain.domain}?",
                       text="People with addresses on it can no longer log in through your identity provider, "
                            "and Require SSO stops applying to them.",
                       action=url_for("sso.sso_domains_delete", sso_domain_id=domain.id), button="Remove domain")


@bp.route(PREFIX + "/test", methods=["POST"])
@requires("sso.manage")
def sso_test_start():
    """Run a login through the IdP; its outcome (and decoded attributes) is shown afterwards."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("The form expired. Try again.", "error")
        return redirect(_settings_url("test"), 303)
    connection = sso_config.get_connection(current_org.id)
    try:
        url = sso_login_service.start_login(current_org, connection, is_test=True)
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(_settings_url("test"), 303)
    db.session.commit()
    return continue_to(url, "your identity provider")


@bp.route(PREFIX + "/require")
@requires("sso.manage")
def sso_require_show():
    """Who Require SSO affects (and, for owners, the switch)."""
    return _require_page(RequireSsoForm(formdata=None))


@bp.route(PREFIX + "/require", methods=["POST"])
@requires("trust.manage")
def sso_require_update():
    """Turn Require SSO on (after a successful test) or off."""
    form = RequireSsoForm()
    error = None
    if form.validate_on_submit():
        enabled = form.require_sso.data == "on"
        try:
            enforcement.set_require_sso(current_org, enabled, current_actor())
        except ServiceError as exc:
            error = exc.message
        else:
            return _done("Require SSO is on: members on verified domains open this workspace through your IdP."
                         if enabled else "Require SSO is off: members may use passwords again.", "require")
    return _require_page(form, error or "Choose on or off.")


def _require_page(form, error=None):
    affected, unaffected = enforcement.preview_enforcement(current_org)
    return render_page("sso/require.html", status=422 if error else 200, form=form, error=error,
                       connection=sso_config.get_connection(current_org.id), affected=affected, unaffected=unaffected)


@bp.route(PREFIX + "/log/<login_attempt_id>")
@requires("sso.manage")
def sso_log_show(login_attempt_id):
    """One attempt of the SSO log: outcome, exact reason, and for a test login the decoded attributes."""
    attempt = SsoLoginAttempt.get_for_org_or_404(current_org.id, login_attempt_id)
    return render_page("sso/attempt.html", attempt=attempt)


@bp.route(PREFIX + "/identities/<sso_identity_id>/delete", methods=["GET", "POST"])
@requires("trust.manage")
def sso_identities_delete(sso_identity_id):
    """Unlink a member's account from the IdP (GET asks for confirmation); their SSO grants here end."""
    identity = SsoIdentity.get_for_org_or_404(current_org.id, sso_identity_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        email = identity.user.email
        sso_identities.unlink_identity(current_org, identity, current_actor())
        return _done(f"{email} is no longer linked to your identity provider.", "identities")
    return render_page("sso/confirm.html", form=form, title=f"Unlink {identity.user.email}?",
                       text="Your identity provider will no longer sign this account in, and its single sign-on "
                            "sessions here end. The membership stays; linking again needs the person's consent.",
                       action=url_for("sso.sso_identities_delete", sso_identity_id=identity.id), button="Unlink")
