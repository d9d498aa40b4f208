from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

PASSWORD_HINT = "At least 8 characters. Long passphrases are welcome."


class SignupForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254)],
                       description="We'll email you a link to continue.")


class FinishSignupForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter your name."), Length(max=120)])
    password = PasswordField("Password", validators=[DataRequired("Choose a password.")],
                             description=PASSWORD_HINT)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password.")])
    remember = BooleanField("Keep me logged in")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254)],
                       description="We'll email you a link to choose a new password.")


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired("Choose a password.")],
                             description=PASSWORD_HINT)
    confirm_password = PasswordField("Repeat the new password", validators=[
        DataRequired("Repeat the new password."), EqualTo("password", "The two passwords don't match.")])


class ProfileForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter your name."), Length(max=120)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password.")])
    new_password = PasswordField("New password", validators=[DataRequired("Choose a new password.")],
                                 description=PASSWORD_HINT + " Your other sessions will be logged out.")
    confirm_password = PasswordField("Repeat the new password", validators=[
        DataRequired("Repeat the new password."), EqualTo("new_password", "The two passwords don't match.")])


class RevokeSessionsForm(FlaskForm):
    # Set by htmx (hx-vals) after its confirm dialog; a plain form post without it gets a confirm page.
    confirmed = HiddenField()
