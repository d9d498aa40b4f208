"""SAML ACS throughput: valid responses processed per second at the ACS (Flask test client, full
request: every check, replay cache, identity and membership, role mapping, the SSO log, the event,
the commit and the new session) next to python3-saml's own validation of the same responses in a
loop (OneLogin_Saml2_Auth.process_response with a settings object built once), in the same run.

    DATABASE_URL=postgresql://... REDIS_URL=redis://127.0.0.1:6379/9 python bench/saml.py [--responses N] [--profile]

Responses are signed by pysaml2 (an independent IdP, xmlsec1) up front; each is distinct (the replay
cache accepts an assertion once). It drops and recreates every table of DATABASE_URL: point it at a
scratch database. Target (issue 6): at least 0.7x the baseline.
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from onelogin.saml2.auth import OneLogin_Saml2_Auth  # noqa: E402
from onelogin.saml2.settings import OneLogin_Saml2_Settings  # noqa: E402

from app import create_app  # noqa: E402
from config import TestConfig  # noqa: E402
from extensions import db  # noqa: E402
from services.events import SYSTEM  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--responses", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="profile the ACS run with cProfile")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/orgkit-bench-saml.db")
    app = create_app(TestConfig(SSO_ACS_RATE_LIMIT="100000 per second", USE_REDIS_QUEUE=None))
    with app.app_context():
        db.drop_all()
        db.create_all()
        from services.sso import config as sso_config, domains, saml
        from tests import factories
        from tests.sso.idp import TestIdP, make_key_pair
        org = factories.org(owner=factories.user(email="owner@acmecorp.com"), name="Acme")
        connection = sso_config.ensure_connection(org)
        db.session.commit()
        idp = TestIdP(saml.sp_metadata_xml(connection), key_pair=make_key_pair("Bench IdP"))
        sso_config.import_metadata(org, SYSTEM, idp.metadata_xml())
        sso_config.update_options(org, SYSTEM, "member", True)
        sso_config.add_group_mapping(org, SYSTEM, "Engineering", "admin")
        domains.mark_verified(org, domains.add_domain(org, "acmecorp.com", SYSTEM), SYSTEM, "operator")
        db.session.commit()
        acs, audience, org_id = saml.acs_url(org.id), saml.sp_entity_id(org.id), org.id
        print(f"signing {args.responses * 2} responses with pysaml2 + xmlsec1 ...", flush=True)
        people = [f"person{i % 20}@acmecorp.com" for i in range(args.responses * 2)]
        responses = [idp.response(email, acs, audience, attributes={"groups": ["Engineering"]}) for email in people]
        baseline_responses, acs_responses = responses[:args.responses], responses[args.responses:]

        # Baseline: python3-saml alone, settings built once, the same kind of responses.
        settings = OneLogin_Saml2_Settings(saml._settings_dict(connection))
        request_data = saml.request_data(saml.sp_path(org_id, "acs"))
        started = time.perf_counter()
        for saml_response in baseline_responses:
            auth = OneLogin_Saml2_Auth({**request_data, "post_data": {"SAMLResponse": saml_response}}, settings)
            auth.process_response()
            assert auth.is_authenticated(), auth.get_last_error_reason()
        baseline = args.responses / (time.perf_counter() - started)

    client = app.test_client()
    # Bodies encoded up front: form-encoding 10 KB in the test client is the client's cost, not the ACS's.
    from urllib.parse import urlencode
    bodies = [urlencode({"SAMLResponse": saml_response}) for saml_response in acs_responses]
    profiler = None
    if args.profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    for body in bodies:
        response = client.post(f"/sso/{org_id}/acs", data=body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 303, response.get_data(as_text=True).split("sso_refused_reason\">")[-1][:300]
    measured = args.responses / (time.perf_counter() - started)
    if profiler is not None:
        import pstats
        profiler.disable()
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(40)
    dialect = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
    print(f"database: {dialect}, responses: {args.responses}")
    print(f"python3-saml validation alone: {baseline:8.1f} responses/s")
    print(f"Orgkit ACS (full request):      {measured:8.1f} responses/s")
    print(f"ratio: {measured / baseline:.2f}x (target at least 0.7x)")


if __name__ == "__main__":
    main()
