"""Domain logic as verbs. Services take plain values and models, flush, and never commit: the request
or the job that called them commits once (STYLE.md example 5)."""


class ServiceError(Exception):
    """A change refused for a reason the user should read (shown as a page message, a JSON error...).

    field names the form field it belongs to, when there is one, so forms can show it inline.
    """

    def __init__(self, message, field=None, code="invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
