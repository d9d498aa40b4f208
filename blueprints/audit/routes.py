"""The org's audit log: filter, page through, export as CSV."""
import csv
import io

from flask import Response, request, url_for
from sqlalchemy.orm import Session

import db_scope
from blueprints.audit import bp
from extensions import db
from htmx import render_page
from services import ServiceError, audit, catalog
from tenancy import current_org, requires


@bp.route("")
@requires("audit.read")
def audit_events_list():
    """Who did what and when, newest first, filtered by action, actor and dates."""
    filters, errors = _filters()
    page = audit.page_of_events(current_org.id, filters, request.args.get("cursor"))
    return render_page(
        "audit/list.html", status=422 if errors else 200,
        page=page, filters=filters, errors=errors, args=request.args,
        action_groups=catalog.groups(),
        next_url=url_for("audit.audit_events_list", cursor=page.next_cursor, **filters.as_args()) if page.next_cursor else None,
        first_url=url_for("audit.audit_events_list", **filters.as_args()),
        export_url=url_for("audit.audit_events_export", **filters.as_args()),
    )


@bp.route("/export.csv")
@requires("audit.read")
def audit_events_export():
    """The filtered events as CSV, streamed row by row (bounded memory for any size)."""
    filters, errors = _filters()
    if errors:
        return Response("; ".join(errors.values()) + "\n", status=422, mimetype="text/plain")
    org_id, slug = current_org.id, current_org.slug
    engine = db.engine

    def rows():
        # The body is sent after the request's context is gone, so the generator reads through its
        # own short-lived session on the engine, not the request's (context-bound) session; walled
        # to the org like the request was (row-level security, db_scope.py).
        with Session(engine) as session:
            db_scope.bind_session(session, org_id)
            yield from _csv_chunks(session, org_id, filters)

    response = Response(rows(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{slug}-audit-log.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _filters():
    """The filters from the query string; a bad value is reported and ignored, not a 500."""
    try:
        return audit.AuditFilters.from_args(request.args), {}
    except ServiceError as error:
        # Drop the offending field and keep the rest of the filters.
        cleaned = {k: v for k, v in request.args.items() if k != error.field}
        try:
            return audit.AuditFilters.from_args(cleaned), {error.field: error.message}
        except ServiceError as second:
            return audit.AuditFilters(), {error.field: error.message, second.field: second.message}


def _csv_chunks(session, org_id, filters):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(audit.CSV_COLUMNS)
    for event in audit.iter_filtered_events(session, org_id, filters):
        writer.writerow(audit.csv_row(event))
        if buffer.tell() > 16_384:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
