from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class OrgSettingsForm(FlaskForm):
    name = StringField("Workspace name", validators=[DataRequired("Enter a name for the workspace."), Length(max=100)])
    slug = StringField(
        "Address", validators=[DataRequired("Enter an address."), Length(max=60)],
        description="Lowercase letters, digits and dashes. Changing it changes every link to this workspace.",
    )


class DeleteOrgForm(FlaskForm):
    confirmation = StringField("Type the workspace address to confirm", validators=[DataRequired("Type the address to confirm.")])


class LeaveOrgForm(FlaskForm):
    """Only the CSRF token: leaving needs no input beyond the confirmation page's button."""
