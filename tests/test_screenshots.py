"""Screenshots: a test run writes them to an ignored folder; only `make screenshots` refreshes docs/."""
import re
import subprocess
from pathlib import Path

from tests import screenshots

TESTS = Path(__file__).resolve().parent


class FakePage:
    """Just enough of a Playwright page: records where it was asked to save itself."""

    def __init__(self):
        self.saved = []

    goto = None  # what tells a page from a locator

    def screenshot(self, path, full_page=False):
        Path(path).write_bytes(b"png")
        self.saved.append((path, full_page))


def test_a_test_run_saves_screenshots_outside_the_tracked_docs(monkeypatch):
    monkeypatch.delenv("ORGKIT_SCREENSHOTS", raising=False)
    page = FakePage()
    path = screenshots.screenshot(page, "helper-check")
    try:
        assert path.parent == screenshots.ARTIFACTS
        assert page.saved == [(str(path), True)]
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=screenshots.REPO)
        assert ignored.returncode == 0, f"{path} must be ignored by git (.gitignore)"
    finally:
        path.unlink()


def test_make_screenshots_is_what_writes_to_docs(monkeypatch):
    monkeypatch.setenv("ORGKIT_SCREENSHOTS", "docs")
    assert screenshots.screenshot_folder() == screenshots.DOCS
    target = (screenshots.REPO / "Makefile").read_text().split("\nscreenshots:")[1].split("\n\n")[0]
    assert "ORGKIT_SCREENSHOTS=docs" in target


def test_browser_tests_save_screenshots_only_through_the_helper():
    direct = re.compile(r"\.screenshot\(\s*path=")
    offenders = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py")
                 if p.name != "screenshots.py" and direct.search(p.read_text())]
    assert offenders == [], f"use tests.screenshots.screenshot(page, name) in {offenders}"
