"""The two-factor screens a signed-in page cannot reach (they need a login in progress or a fresh
secret), at 1440 and 390 px, checked like every other screen (tests/screens/test_every_screen.py):
the second login step with and without an error, the recovery code step, the recovery codes shown
once, the removal and regeneration confirmations."""
import pytest

from models import Passkey
from extensions import db
from tests.factories import PASSWORD
from tests.screens.conftest import WIDTHS
from tests.screens.test_every_screen import check_screen
from tests.twofactor.helpers import code_at, enable_totp


@pytest.mark.browser
@pytest.mark.parametrize("label", list(WIDTHS))
def test_two_factor_screens_are_accessible_and_fit(label, make, live_server, browser_context):
    width, height = WIDTHS[label]
    base = live_server.url
    person = make.user(email="ada@example.com", name="Ada Lovelace")
    secret, _ = enable_totp(person)
    db.session.add(Passkey(user_id=person.id, name="A rather long passkey name for the work laptop",
                           credential_id=b"credential", public_key=b"key", sign_count=0, transports=[]))
    db.session.commit()
    page = browser_context().new_page()
    page.set_viewport_size({"width": width, "height": height})
    problems = []

    page.goto(f"{base}/login")
    page.fill("#email", person.email)
    page.fill("#password", PASSWORD)
    page.click("#login_form button[type=submit]")
    page.wait_for_url(f"{base}/login/two-factor")
    problems += check_screen(page, "login-two-factor", width)
    page.fill("#code", "12")
    page.click("#two_factor_form button[type=submit]")
    page.wait_for_selector("#code_error")
    problems += check_screen(page, "login-two-factor-error", width)
    page.goto(f"{base}/login/two-factor/recovery")
    problems += check_screen(page, "login-recovery-code", width)
    page.goto(f"{base}/login/two-factor")
    page.fill("#code", code_at(secret))
    page.check("#remember_device")  # so the account page lists a remembered browser
    page.click("#two_factor_form button[type=submit]")
    page.wait_for_url(f"{base}/app/workspaces")

    page.goto(f"{base}/app/account/two-factor")
    assert page.is_visible("#remembered_rows")
    problems += check_screen(page, "two-factor-with-factors", width)
    page.goto(f"{base}/app/account/two-factor/totp/remove")
    problems += check_screen(page, "two-factor-remove", width)
    page.goto(f"{base}/app/account/two-factor")
    page.click("#regenerate_codes")
    page.wait_for_selector("#confirm_dialog[open]")
    problems += [f"dialog @ {width}px: {problem}" for problem in check_screen(page, "regenerate-dialog", width)]
    page.click("#confirm_dialog_confirm")
    page.wait_for_selector("#recovery_codes")
    problems += check_screen(page, "recovery-codes", width)
    assert not problems, "\n".join(problems)
