from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from permissions import ROLE_DESCRIPTIONS, ROLE_LABELS


def role_choices(roles):
    return [SelectChoice(role.value, ROLE_LABELS[role]) for role in roles]


def role_hint(roles):
    return " ".join(f"{ROLE_LABELS[role]}: {ROLE_DESCRIPTIONS[role]}" for role in roles)


class InviteForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter the email address to invite."), Length(max=254)])
    # The service checks the role against the inviter's own (admins cannot invite owners) and says why;
    # WTForms' generic "Not a valid choice" would not.
    role = SelectField("Role", default="member", validate_choice=False,
                       validators=[DataRequired("Choose a role.")])


class InviteLinkForm(FlaskForm):
    enabled = BooleanField("Anyone with the link and an address at these domains can ask to join")
    role = SelectField("They join as", default="member", validate_choice=False,
                       validators=[DataRequired("Choose a role.")])
    allowed_domains = TextAreaField("Allowed email domains", validators=[Length(max=2000)],
                                    description="One per line, like example.com. Each person confirms their "
                                                "address by email before joining.")


class InvitationSignupForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired("Enter your name."), Length(max=120)])
    password = PasswordField("Choose a password", validators=[DataRequired("Choose a password.")],
                             description="At least 8 characters. Long passphrases are welcome.")


class JoinRequestForm(FlaskForm):
    email = EmailField("Your work email", validators=[DataRequired("Enter your email address."), Length(max=254)])
