"""Every main screen, at 1440 and 390 px wide, in headless Chromium: axe-core finds no violation of
any impact, the page is no wider than the window, no table needs a horizontal scroll on a desktop,
and the page starts with the one page header (issue 16, "Done means" and items 6, 7, 11, 12); at
1440 px in the dark theme as well.

Failures are collected over all screens, so one run lists everything that is wrong."""
import pytest

from tests.screens.conftest import SCHEMES, WIDTHS, clipped_tables, page_headers, page_overflow, run_axe
from tests.screenshots import screenshot

# The screens whose pictures the README shows (make screenshots), at both widths.
README_SCREENS = {"overview", "members", "invitations", "audit", "api-keys", "webhook-endpoint", "sso", "login"}


def check_screen(page, name, width):
    problems = []
    problems += [f"{name} @ {width}px: axe {violation}" for violation in run_axe(page)]
    overflow = page_overflow(page)
    if overflow["over"]:
        problems.append(f"{name} @ {width}px: page {overflow['over']} px wider than the window: {overflow['culprits']}")
    if width >= 1024:
        problems += [f"{name} @ {width}px: table {table} scrolls sideways" for table in clipped_tables(page)]
    headers = page_headers(page)
    if headers != {"headers": 1, "h1": 1, "inHeader": 1}:
        problems.append(f"{name} @ {width}px: expected one page header holding the one h1, found {headers}")
    return problems


def visit_all(page, base_url, screens, width, label):
    problems = []
    for name, path in screens.items():
        response = page.goto(base_url + path)
        expected = 404 if name == "not-found" else 200
        if response.status != expected:
            problems.append(f"{name}: {path} answered {response.status}")
            continue
        problems += check_screen(page, name, width)
        if name in README_SCREENS:
            screenshot(page, f"{name}-{label}", full_page=False)
    return problems


@pytest.mark.browser
@pytest.mark.parametrize("label", list(SCHEMES))
def test_every_screen_is_accessible_and_fits(label, world, live_server, browser_context, sign_in):
    width, height = WIDTHS[label.split("-")[0]]
    context = browser_context()
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.emulate_media(color_scheme=SCHEMES[label])
    problems = visit_all(page, live_server.url, world.public, width, label)
    sign_in(page, live_server.url)
    problems += visit_all(page, live_server.url, world.urls, width, label)
    assert not problems, "\n".join(problems)
