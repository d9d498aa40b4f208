from flask_wtf import FlaskForm


class NotificationSettingsForm(FlaskForm):
    """CSRF only: the matrix's fields (in_app:<type>, email:<type>, mode:<type>) come from the catalog,
    so the route reads them from the request and the service validates them."""
