from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired

ROLE_CHOICES = [SelectChoice("admin", "Admin"), SelectChoice("member", "Member"), SelectChoice("viewer", "Viewer")]


class EnableForm(FlaskForm):
    enabled = HiddenField(validators=[AnyOf(["on", "off"], message="Choose on or off.")])


class DefaultRoleForm(FlaskForm):
    default_role = SelectField("Role for people in no mapped group", choices=ROLE_CHOICES,
                               validators=[InputRequired()])


class GroupRoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice("", "No role")] + ROLE_CHOICES)


class ConfirmForm(FlaskForm):
    """A POST with only the CSRF token: the confirmation of a destructive action."""
