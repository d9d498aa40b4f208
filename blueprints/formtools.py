"""Glue between service errors and WTForms: shared by every blueprint."""


def apply_service_error(form, error):
    """Show a ServiceError under its field, or above the form when it names none."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = list(field.errors) + [error.message]
    else:
        form.form_errors.append(error.message)
