"""The three parts a setup link can cover, each a page of the opened link (see public.py for opening).

    GET       /setup/l/<link_id>/sso                                 setup_sso (steps, SP values, the draft)
    POST      /setup/l/<link_id>/sso/metadata                        setup_sso_metadata (paste or upload)
    POST      /setup/l/<link_id>/sso/metadata-url                    setup_sso_metadata_url (fetched through egress)
    POST      /setup/l/<link_id>/sso/attributes                      setup_sso_attributes
    POST      /setup/l/<link_id>/sso/group-mappings                  setup_sso_group_mappings_create
    POST      /setup/l/<link_id>/sso/group-mappings/delete           setup_sso_group_mappings_delete
    POST      /setup/l/<link_id>/sso/test                            setup_sso_test (a real login against the draft)
    GET       /setup/l/<link_id>/sso/test/<login_attempt_id>         setup_sso_test_result (the decoded assertion)
    POST      /setup/l/<link_id>/sso/save                            setup_sso_save (only after a passing test)
    GET       /setup/l/<link_id>/domains                             setup_domains
    POST      /setup/l/<link_id>/domains                             setup_domains_create
    POST      /setup/l/<link_id>/domains/<sso_domain_id>/check       setup_domains_check (htmx polls it: live re-check)
    GET       /setup/l/<link_id>/scim                                setup_scim
    POST      /setup/l/<link_id>/scim                                setup_scim_enable (turns SCIM on; the token is shown once)
    GET       /setup/l/<link_id>/scim/requests                       setup_scim_requests (htmx polls it: the live log)

Every change acts as the link (setup_links.actor_for) through the same services the owners' settings
pages use.
"""
from flask import current_app, redirect, url_for

from blueprints.formtools import apply_service_error, continue_to
from blueprints.setup_links import bp
from blueprints.setup_links.forms import AttributesForm, ConfirmForm, GroupMappingForm, RemoveMappingForm
from blueprints.setup_links.public import link_actor, link_page
from blueprints.sso.forms import DomainForm, MetadataForm, MetadataUrlForm
from extensions import db
from htmx import is_htmx, render_page, render_region
from models import ScimToken, SsoDomain
from services import ServiceError, setup_links
from services import setup_sso as sso_draft
from services.scim import settings as scim_settings
from services.setup_guides import guide_for
from services.sso import config as sso_config
from services.sso import domains, saml

PREFIX = "/setup/l/<link_id>"
LOG_ROWS = 20  # the live log shows the newest requests; the owners' SCIM page keeps the rest
STOP_POLLING = 286  # htmx stops a polling trigger on this status (htmx docs, "Polling")


# --- Single sign-on -------------------------------------------------------------------------------

def _sso_page(link, org, status=200, **forms):
    sso_config.ensure_connection(org)  # the SP key pair behind the SP metadata
    draft = sso_draft.draft_of(link)
    defaults = {
        "metadata_form": MetadataForm(formdata=None),
        "metadata_url_form": MetadataUrlForm(formdata=None, metadata_url=draft.get("metadata_url") or ""),
        "attributes_form": AttributesForm(formdata=None, email_attribute=draft["email_attribute"],
                                          groups_attribute=draft["groups_attribute"], default_role=draft["default_role"]),
        "mapping_form": GroupMappingForm(formdata=None),
    }
    defaults.update(forms)
    db.session.commit()
    return render_page(
        "setup_links/sso.html", status=status, link=link, org=org, guide=guide_for(link.provider), draft=draft,
        tested=sso_draft.is_tested(draft), saved=sso_draft.is_saved(draft), fingerprints=sso_draft.fingerprints(draft),
        sp={"entity_id": saml.sp_entity_id(org.id), "acs_url": saml.acs_url(org.id), "metadata_url": saml.metadata_url(org.id)},
        has_verified_domain=bool(domains.verified_domains(org.id)), confirm_form=ConfirmForm(),
        remove_form=RemoveMappingForm(formdata=None), **defaults)


def _sso_act(link, org, form, form_name, action, anchor):
    if form.validate_on_submit():
        try:
            action()
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            return redirect(url_for("setup_links.setup_sso", link_id=link.id) + f"#{anchor}", 303)
    return _sso_page(link, org, 422, **{form_name: form})


@bp.route(PREFIX + "/sso")
@link_page("sso")
def setup_sso(link, org):
    """Single sign-on, step by step in the chosen IdP's words."""
    return _sso_page(link, org)


@bp.route(PREFIX + "/sso/metadata", methods=["POST"])
@link_page("sso")
def setup_sso_metadata(link, org):
    """The IdP from pasted or uploaded metadata XML (kept in the draft)."""
    form = MetadataForm()

    def action():
        upload = form.metadata_file.data
        xml = (upload.read(sso_config.MAX_METADATA_BYTES + 1) if upload and getattr(upload, "filename", "")
               else form.metadata_xml.data)
        sso_draft.set_idp_from_metadata(link, xml)
    return _sso_act(link, org, form, "metadata_form", action, "idp")


@bp.route(PREFIX + "/sso/metadata-url", methods=["POST"])
@link_page("sso")
def setup_sso_metadata_url(link, org):
    """The IdP from its metadata URL, fetched now through the egress guard."""
    form = MetadataUrlForm()
    return _sso_act(link, org, form, "metadata_url_form",
                    lambda: sso_draft.set_idp_from_metadata_url(link, form.metadata_url.data), "idp")


@bp.route(PREFIX + "/sso/attributes", methods=["POST"])
@link_page("sso")
def setup_sso_attributes(link, org):
    """Which attributes carry the email and the groups, and the role of people in no mapped group."""
    form = AttributesForm()
    return _sso_act(link, org, form, "attributes_form", lambda: sso_draft.set_attributes(
        link, form.email_attribute.data, form.groups_attribute.data, form.default_role.data), "mapping")


@bp.route(PREFIX + "/sso/group-mappings", methods=["POST"])
@link_page("sso")
def setup_sso_group_mappings_create(link, org):
    """Map an IdP group to a role (never owner)."""
    form = GroupMappingForm()
    return _sso_act(link, org, form, "mapping_form",
                    lambda: sso_draft.add_group_mapping(link, form.group_name.data, form.role.data), "mapping")


@bp.route(PREFIX + "/sso/group-mappings/delete", methods=["POST"])
@link_page("sso")
def setup_sso_group_mappings_delete(link, org):
    """Remove a group mapping from the draft."""
    form = RemoveMappingForm()
    if form.validate_on_submit():
        sso_draft.remove_group_mapping(link, form.group_name.data)
        db.session.commit()
    return redirect(url_for("setup_links.setup_sso", link_id=link.id) + "#mapping", 303)


@bp.route(PREFIX + "/sso/test", methods=["POST"])
@link_page("sso")
def setup_sso_test(link, org):
    """Test SSO: a real login through the IdP, checked against the draft; nobody is signed in by it."""
    form = ConfirmForm()
    try:
        if not form.validate_on_submit():
            raise ServiceError("The form expired. Try again.")
        url = sso_draft.start_test(org, link)
    except ServiceError as error:
        return _sso_page(link, org, 422, test_error=error.message)
    db.session.commit()
    return continue_to(url, "your identity provider")


@bp.route(PREFIX + "/sso/test/<login_attempt_id>")
@link_page("sso")
def setup_sso_test_result(link, org, login_attempt_id):
    """What the test login showed: passed or why not, and the assertion's decoded attributes."""
    attempt = sso_draft.test_attempt(link, login_attempt_id)
    if attempt is None:
        return render_page("errors/error.html", status=404, title="Page not found", description=None)
    draft = sso_draft.draft_of(link)
    db.session.commit()
    return render_page("setup_links/sso_test.html", link=link, org=org, attempt=attempt,
                       tested=sso_draft.is_tested(draft), saved=sso_draft.is_saved(draft), confirm_form=ConfirmForm())


@bp.route(PREFIX + "/sso/save", methods=["POST"])
@link_page("sso")
def setup_sso_save(link, org):
    """Save the tested draft as the workspace's connection; the owners are told."""
    form = ConfirmForm()
    try:
        if not form.validate_on_submit():
            raise ServiceError("The form expired. Try again.")
        sso_draft.save(org, link, link_actor(link))
    except ServiceError as error:
        return _sso_page(link, org, 422, save_error=error.message)
    db.session.commit()
    return redirect(url_for("setup_links.setup_sso", link_id=link.id) + "#save", 303)


# --- Domains --------------------------------------------------------------------------------------

def _org_domains(org):
    return db.session.scalars(SsoDomain.for_org(org.id).order_by(SsoDomain.domain)).all()


def _note_verified(link, org_domains):
    if any(domain.is_verified for domain in org_domains):
        setup_links.mark_done(link, "domains")


def _domains_page(link, org, status=200, form=None):
    org_domains = _org_domains(org)
    _note_verified(link, org_domains)
    db.session.commit()
    return render_page("setup_links/domains.html", status=status, link=link, org=org, domains=org_domains,
                       form=form or DomainForm(formdata=None), txt_value=domains.txt_record_value,
                       check_form=ConfirmForm())


@bp.route(PREFIX + "/domains")
@link_page("domains")
def setup_domains(link, org):
    """The workspace's email domains, each with the TXT record that proves it."""
    return _domains_page(link, org)


@bp.route(PREFIX + "/domains", methods=["POST"])
@link_page("domains")
def setup_domains_create(link, org):
    """Add a domain; its TXT record is then checked live here and on the usual retry schedule."""
    form = DomainForm()
    if form.validate_on_submit():
        try:
            domain = domains.add_domain(org, form.domain.data, link_actor(link))
            domains.request_check(domain)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            return redirect(url_for("setup_links.setup_domains", link_id=link.id) + f"#domain-{domain.id}", 303)
    return _domains_page(link, org, 422, form)


@bp.route(PREFIX + "/domains/<sso_domain_id>/check", methods=["POST"])
@link_page("domains")
def setup_domains_check(link, org, sso_domain_id):
    """Look the TXT record up now. htmx polls this while the page is open and stops once verified;
    without JavaScript it is the Check again button."""
    domain = SsoDomain.get_for_org_or_404(org.id, sso_domain_id)
    if not domain.is_verified and ConfirmForm().validate_on_submit():
        domains.check_domain_now(domain, scheduled=False)
    _note_verified(link, [domain])
    db.session.commit()
    if is_htmx():
        return render_region("setup_links/domains.html", "domain_row", STOP_POLLING if domain.is_verified else 200,
                             link=link, org=org, domain=domain, txt_value=domains.txt_record_value,
                             check_form=ConfirmForm())
    return redirect(url_for("setup_links.setup_domains", link_id=link.id) + f"#domain-{domain.id}", 303)


# --- SCIM -----------------------------------------------------------------------------------------

def _link_token_prefixes(link, org):
    """Prefixes of the SCIM tokens generated through this link: its log shows their requests."""
    return set(db.session.scalars(ScimToken.for_org(org.id).with_only_columns(ScimToken.prefix)
                                  .where(ScimToken.created_by_label == setup_links.actor_for(link).label)))


def _scim_requests(link, org):
    prefixes = _link_token_prefixes(link, org)
    return [row for row in scim_settings.recent_requests(org.id) if row.token_prefix in prefixes][:LOG_ROWS] if prefixes else []


def _scim_page(link, org, status=200, new_token=None, error=None):
    from services.scim.provisioning import ensure_config
    config = ensure_config(org)
    db.session.commit()
    response = render_page(
        "setup_links/scim.html", status=status, link=link, org=org, guide=guide_for(link.provider), config=config,
        base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/scim/v2", new_token=new_token, error=error,
        has_token=bool(_link_token_prefixes(link, org)), requests=_scim_requests(link, org), form=ConfirmForm())
    if new_token:
        return response[0], response[1], {"Cache-Control": "no-store"}
    return response


@bp.route(PREFIX + "/scim")
@link_page("scim")
def setup_scim(link, org):
    """SCIM provisioning: the IdP's steps, the base URL, a token, and the first requests as they come."""
    return _scim_page(link, org)


@bp.route(PREFIX + "/scim", methods=["POST"])
@link_page("scim")
def setup_scim_enable(link, org):
    """Turn SCIM on and generate a token (shown once, on this response)."""
    if not ConfirmForm().validate_on_submit():
        return _scim_page(link, org, 422, error="The form expired. Try again.")
    actor = link_actor(link)
    try:
        scim_settings.set_enabled(org, True, actor)
        _, token = scim_settings.create_token(org, actor)
    except ServiceError as error:
        db.session.rollback()
        return _scim_page(link, org, 422, error=error.message + " Ask an owner of the workspace to revoke the old one.")
    setup_links.mark_done(link, "scim")
    db.session.commit()
    return _scim_page(link, org, new_token=token)


@bp.route(PREFIX + "/scim/requests")
@link_page("scim")
def setup_scim_requests(link, org):
    """The live log, for htmx to poll; without JavaScript the page's Refresh link reloads the page."""
    if not is_htmx():
        return redirect(url_for("setup_links.setup_scim", link_id=link.id) + "#scim_requests", 303)
    db.session.commit()
    return render_region("setup_links/scim.html", "scim_requests", link=link, org=org,
                         requests=_scim_requests(link, org), has_token=True)
