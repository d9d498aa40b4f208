"""pytest.ini turns warnings from the project's own code (and its WTForms usage) into failures."""
import warnings

import pytest
from wtforms import Form, SelectField


@pytest.mark.parametrize("module", ["services.mail", "blueprints.sso.forms", "app", "tests.conftest", "wtforms.fields.core"])
def test_a_warning_raised_in_the_projects_code_fails_the_test(module):
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("going away", DeprecationWarning, f"{module}.py", 1, module=module)


def test_a_third_party_warning_stays_a_warning():
    with pytest.warns(DeprecationWarning):
        warnings.warn_explicit("going away", DeprecationWarning, "appdirs.py", 1, module="appdirs")


def test_wtforms_deprecations_are_errors_so_the_forms_stay_current():
    class Old(Form):
        role = SelectField(choices=[("member", "Member")])  # a (value, label) tuple, deprecated in WTForms 3.3

    with pytest.raises(DeprecationWarning, match="SelectChoice"):
        Old()
