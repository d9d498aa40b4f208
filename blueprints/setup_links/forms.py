from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, IntegerField, RadioField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from services.setup_links import DEFAULT_DAYS, MAX_DAYS, MIN_DAYS, SCOPE_LABELS
from services.setup_guides import GUIDES

ROLE_CHOICES = [SelectChoice("member", "Member"), SelectChoice("admin", "Admin"), SelectChoice("viewer", "Viewer")]


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CreateLinkForm(FlaskForm):
    scopes = CheckboxesField("What the IT admin may set up", choices=[SelectChoice(key, label) for key, label in SCOPE_LABELS.items()],
                             validators=[DataRequired("Choose at least one thing the link may set up.")])
    days = IntegerField("Valid for (days)", default=DEFAULT_DAYS,
                        validators=[DataRequired(f"Enter a number of days from {MIN_DAYS} to {MAX_DAYS}."),
                                    NumberRange(MIN_DAYS, MAX_DAYS, f"A setup link lasts from {MIN_DAYS} to {MAX_DAYS} days.")],
                        description=f"From {MIN_DAYS} to {MAX_DAYS} days; {DEFAULT_DAYS} unless you change it.")
    send_to = EmailField("Email it to (optional)", validators=[Optional(), Length(max=254)],
                         description="Orgkit sends the link there, and opening it then needs a one-time code sent to the same address.")


class ConfirmForm(FlaskForm):
    """A POST with only the CSRF token."""


class CodeForm(FlaskForm):
    code = StringField("Code from the email", validators=[DataRequired("Enter the code from the email."), Length(max=20)])


class ProviderForm(FlaskForm):
    provider = RadioField("Your identity provider", choices=[SelectChoice(g.key, g.name) for g in GUIDES],
                          validators=[DataRequired("Choose your identity provider.")])


class AttributesForm(FlaskForm):
    email_attribute = StringField("Email attribute", validators=[Optional(), Length(max=255)],
                                  description="Empty: email, mail, the Entra ID emailaddress claim, or an email NameID.")
    groups_attribute = StringField("Groups attribute", validators=[Optional(), Length(max=255)],
                                   description="Empty: groups, memberOf, or the Entra ID groups claim.")
    default_role = SelectField("Role of people in no mapped group", choices=ROLE_CHOICES)


class RemoveMappingForm(FlaskForm):
    group_name = HiddenField(validators=[DataRequired()])


class GroupMappingForm(FlaskForm):
    group_name = StringField("IdP group", validators=[DataRequired("Enter the group name or ID."), Length(max=255)])
    role = SelectField("Gives role", choices=ROLE_CHOICES)
