from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

ROLE_CHOICES = [SelectChoice("member", "Member"), SelectChoice("admin", "Admin"), SelectChoice("viewer", "Viewer")]


class MetadataForm(FlaskForm):
    metadata_xml = TextAreaField("IdP metadata XML", validators=[Optional()],
                                 description="Paste the XML your identity provider shows for this app, or upload the file.")
    metadata_file = FileField("…or upload the metadata file")


class MetadataUrlForm(FlaskForm):
    metadata_url = StringField("IdP metadata URL", validators=[DataRequired("Enter the metadata URL."), Length(max=2048)],
                               description="Orgkit fetches it now and again whenever you press Refresh.")


class ManualIdpForm(FlaskForm):
    entity_id = StringField("IdP entity ID (issuer)", validators=[DataRequired("Enter the IdP's entity ID."), Length(max=1024)])
    sso_url = StringField("Single sign-on URL", validators=[DataRequired("Enter the IdP's SSO URL."), Length(max=2048)])
    certificate = TextAreaField("Signing certificate (PEM)", validators=[Optional()],
                                description="Needed the first time; later, leave empty to keep the certificates listed below.")
    sign_authn_requests = BooleanField("The IdP wants signed AuthnRequests")


class CertificateForm(FlaskForm):
    certificate = TextAreaField("Add a certificate (PEM)", validators=[DataRequired("Paste a certificate.")],
                                description="For a rollover: add the new certificate before the IdP switches to it.")


class OptionsForm(FlaskForm):
    default_role = SelectField("Role of new members", choices=ROLE_CHOICES)
    allow_idp_initiated = BooleanField("Allow IdP-initiated login (from the IdP's app dashboard)")
    email_attribute = StringField("Email attribute", validators=[Optional(), Length(max=255)],
                                  description="Empty: email, mail, the Entra ID emailaddress claim, or an email NameID.")
    groups_attribute = StringField("Groups attribute", validators=[Optional(), Length(max=255)],
                                   description="Empty: groups, memberOf, or the Entra ID groups claim.")


class GroupMappingForm(FlaskForm):
    group_name = StringField("IdP group", validators=[DataRequired("Enter the group name or ID."), Length(max=255)])
    role = SelectField("Gives role", choices=ROLE_CHOICES)


class MoveForm(FlaskForm):
    direction = HiddenField(validators=[DataRequired()])


class DomainForm(FlaskForm):
    domain = StringField("Email domain", validators=[DataRequired("Enter a domain."), Length(max=253)])


class ConfirmForm(FlaskForm):
    pass


class RequireSsoForm(FlaskForm):
    require_sso = HiddenField(validators=[DataRequired()])


class DiscoverForm(FlaskForm):
    email = EmailField("Work email", validators=[DataRequired("Enter your work email address."), Length(max=254)])


class BreakGlassForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password.")])
    reason = StringField("Why single sign-on cannot be used", validators=[DataRequired("Say why."), Length(max=500)],
                         description="Recorded in the audit log of every workspace that requires SSO of you; its owners are told.")


class LinkPasswordForm(FlaskForm):
    password = PasswordField("The account's password", validators=[DataRequired("Enter the account's password.")])
