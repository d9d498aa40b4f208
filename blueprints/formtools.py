"""Glue between service errors and WTForms, and safe redirects: shared by every blueprint."""
from urllib.parse import urlsplit


def apply_service_error(form, error):
    """Show a ServiceError under its field, or above the form when it names none."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = list(field.errors) + [error.message]
    else:
        form.form_errors.append(error.message)


def safe_next_url(target):
    """A local path to go to after login, or None: never another site (open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
