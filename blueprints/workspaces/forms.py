from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class CreateWorkspaceForm(FlaskForm):
    name = StringField("Workspace name", validators=[DataRequired("Enter a name for the workspace."), Length(max=100)])
