"""Glue between service errors and WTForms, and going on after a POST: shared by every blueprint."""
from htmx import render_page


def apply_service_error(form, error):
    """Show a ServiceError under its field, or above the form when it names none."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = list(field.errors) + [error.message]
    else:
        form.form_errors.append(error.message)


def continue_to(url, destination):
    """After a form's POST, go on to another site (an IdP) with a page that moves on by itself, not a
    redirect: browsers hold the redirects after a POST to the form page's CSP form-action, which names
    this site only (app.py), and no page could name every org's IdP."""
    return render_page("components/continue.html", url=url, destination=destination)
