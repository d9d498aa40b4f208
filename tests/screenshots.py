"""The one place browser tests save screenshots.

A test run writes them to tests/.artifacts/screenshots/ (ignored by git), so `make test` leaves the tree
clean and a failing run still leaves pictures to look at. `make screenshots` sets ORGKIT_SCREENSHOTS=docs
and runs the browser tests that take them: only then are the tracked docs/screenshots/ refreshed.
"""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / ".artifacts" / "screenshots"
DOCS = REPO / "docs" / "screenshots"


def screenshot_folder():
    return DOCS if os.environ.get("ORGKIT_SCREENSHOTS") == "docs" else ARTIFACTS


def screenshot(target, name, *, full_page=True):
    """Save `target` (a Playwright page, or a locator for one element) as <name>.png and return the path."""
    folder = screenshot_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    if hasattr(target, "goto"):
        target.screenshot(path=str(path), full_page=full_page)
    else:  # a locator's screenshot is its element's box; full_page does not apply
        target.screenshot(path=str(path))
    return path
