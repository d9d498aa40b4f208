from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField


class RoleForm(FlaskForm):
    # A plain string: the page renders the roles this actor may give, and the service decides what is
    # allowed, so a refusal reads "Only owners can grant or remove ownership." rather than "Not a
    # valid choice", and an unknown role gets the list of valid ones.
    role = StringField("Role")
    # "yes" once the person confirmed a change of ownership (the dialog, or the confirmation page).
    confirmed = HiddenField()


class RemoveMemberForm(FlaskForm):
    """Only the CSRF token: the confirmation page's button is the confirmation."""
