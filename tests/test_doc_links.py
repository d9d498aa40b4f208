"""Every relative link in README.md and docs/*.md leads to a file in this repository (and, with an
#anchor, to a heading of that file): a clone has no ../shared, and renumbered sections break links."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def heading_anchor(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = INLINE_CODE.sub(lambda code: code.group(0).strip("`"), heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page):
    return {heading_anchor(line.lstrip("#")) for line in FENCE.sub("", page.read_text()).splitlines()
            if line.startswith("#")}


def relative_links(page):
    text = FENCE.sub("", page.read_text())
    for target in LINK.findall(text):
        if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):   # http:, https:, mailto: ... are not ours
            yield target


def test_anchors_follow_githubs_rule():
    assert heading_anchor("6. Web processes: gunicorn behind a reverse proxy") == "6-web-processes-gunicorn-behind-a-reverse-proxy"
    assert heading_anchor("Pages (`bench/pages.py`, issue 2)") == "pages-benchpagespy-issue-2"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(page):
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if ROOT not in resolved.parents and resolved != ROOT or not resolved.exists():
            broken.append(f"{target} (no such file in the repository)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading with that anchor)")
    assert broken == [], f"{page.relative_to(ROOT)}: {broken}"
