from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from models import TwoFactorRequirement


class CodeForm(FlaskForm):
    code = StringField("Authentication code", validators=[DataRequired("Enter the 6-digit code from your authenticator app."),
                                                           Length(max=20, message="The code is 6 digits.")],
                       description="The 6-digit code your authenticator app shows now.")
    remember_device = BooleanField("Remember this device")


class RecoveryCodeForm(FlaskForm):
    code = StringField("Recovery code", validators=[DataRequired("Enter one of your recovery codes."),
                                                     Length(max=40, message="A recovery code has 16 letters and digits.")],
                       description="One of the codes you saved when you turned on two-factor, like abcd-efgh-2345-6789. Each works once.")
    remember_device = BooleanField("Remember this device")


class ConfirmTotpForm(FlaskForm):
    code = StringField("Code from the app", validators=[DataRequired("Enter the 6-digit code from your authenticator app."),
                                                         Length(max=20, message="The code is 6 digits.")],
                       description="After scanning, the app shows a 6-digit code that changes every 30 seconds.")


class ReauthenticateForm(FlaskForm):
    password = PasswordField("Password")
    code = StringField("Or a code from your authenticator app", validators=[Length(max=20, message="The code is 6 digits.")])
    next = HiddenField()


class ConfirmForm(FlaskForm):
    """A destructive action's form: the confirmation page posts it (without JavaScript) or htmx does."""


class RequirementForm(FlaskForm):
    requirement = RadioField("Who must use two-factor authentication",
                             choices=[SelectChoice(r.value, r.value) for r in TwoFactorRequirement],
                             validators=[DataRequired("Choose who must use two-factor authentication.")])
