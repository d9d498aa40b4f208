from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

SCOPE_CHOICES = [
    SelectChoice("read", "Read: list and read everything, change nothing"),
    SelectChoice("write", "Read and write: what an admin can change"),
    SelectChoice("admin", "Admin: also grant or remove ownership (owners only)"),
]


class CreateKeyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the key a name that says what uses it."), Length(max=100)],
                       description="What uses this key, e.g. \"CRM sync\".")
    scope = RadioField("Access", choices=SCOPE_CHOICES, default="read",
                       validators=[DataRequired("Choose what the key may do.")])
    expires_on = DateField("Expires on (optional)", validators=[Optional()],
                           description="The key stops working after this day (UTC). Leave empty for no expiry.")


class ConfirmForm(FlaskForm):
    """A POST with only the CSRF token: the confirmation of a destructive action."""
