from flask_wtf import FlaskForm
from wtforms import SelectField

from models import Role
from permissions import ROLE_LABELS


class RoleForm(FlaskForm):
    # Every role is a valid choice here; whether this actor may give it is the service's rule, so
    # the refusal reads "Only owners can grant or remove ownership." rather than "Not a valid choice".
    role = SelectField("Role", choices=[(role.value, ROLE_LABELS[role]) for role in Role],
                       validate_choice=False)


class RemoveMemberForm(FlaskForm):
    """Only the CSRF token: the confirmation page's button is the confirmation."""
