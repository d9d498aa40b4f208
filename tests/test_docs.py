"""The README documents every setting config.py reads."""
from pathlib import Path

from config import SETTINGS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_has_a_row_for_every_setting():
    table = README.split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    missing = [name for name, _, _ in SETTINGS if f"| `{name}` |" not in table]
    assert missing == [], f"add these settings to the README table: {missing}"
