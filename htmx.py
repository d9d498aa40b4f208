"""Everything that reads HX-* request headers or sets HX-* response headers (DESIGN.md section 4).

render_page() renders one template per screen: an htmx request aimed at a region (HX-Target names a
block of the template, not a boosted navigation) gets that block alone, anything else the whole page.
Block names and the ids of the elements they fill are the same word.
"""
import json
from dataclasses import dataclass

from flask import current_app, render_template, request
from jinja2_fragments.flask import render_block


@dataclass(frozen=True)
class HtmxRequest:
    is_htmx: bool
    boosted: bool
    target: str | None
    trigger: str | None
    trigger_name: str | None
    current_url: str | None
    history_restore: bool


def htmx_request():
    h = request.headers
    return HtmxRequest(
        is_htmx=h.get("HX-Request") == "true",
        boosted=h.get("HX-Boosted") == "true",
        target=h.get("HX-Target") or None,
        trigger=h.get("HX-Trigger") or None,
        trigger_name=h.get("HX-Trigger-Name") or None,
        current_url=h.get("HX-Current-URL") or None,
        history_restore=h.get("HX-History-Restore-Request") == "true",
    )


def wants_fragment(template_name):
    """The block to render alone for this request, or None for the whole page."""
    hx = htmx_request()
    if not hx.is_htmx or hx.boosted or hx.history_restore or not hx.target:
        return None
    blocks = current_app.jinja_env.get_template(template_name).blocks
    return hx.target if hx.target in blocks else None


def render_page(template_name, status=200, **context):
    block = wants_fragment(template_name)
    if block:
        return render_block(template_name, block, **context), status
    return render_template(template_name, **context), status


def render_region(template_name, block, status=200, **context):
    """One named block of a page, for endpoints that only ever answer htmx (polling widgets)."""
    return render_block(template_name, block, **context), status


def trigger(response, event, detail=None):
    """Ask the page to fire a client-side event after the swap (HX-Trigger)."""
    existing = response.headers.get("HX-Trigger")
    events = json.loads(existing) if existing else {}
    events[event] = detail if detail is not None else True
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def redirect_client(response, url):
    """Full-page navigation after an htmx request (HX-Redirect)."""
    response.headers["HX-Redirect"] = url
    return response


def add_vary(response):
    """Responses differ by HX-Request, so caches must key on it."""
    response.vary.add("HX-Request")
    return response


def is_htmx():
    return htmx_request().is_htmx


def toast(response, message):
    """Confirm what just happened in a toast (app.js shows it; the page's own region has changed)."""
    return trigger(response, "toast", {"message": message})


def wants_region():
    """An htmx request aimed at a region of the page (not a boosted navigation or form): answer it
    with that region. A boosted form post from a full page wants the redirect a browser would get."""
    hx = htmx_request()
    return hx.is_htmx and not hx.boosted
