"""Point 3 of the trust issue: nothing mints customer tokens but the website's back end
(and a demo sign-in, off unless asked for, and only for this machine's browsers)."""
import re

import pytest

from numi import auth
from numi.devstack import Stack, http

pytestmark = pytest.mark.slow


def page_token(body: str):
    found = re.search(r'data-customer-token="([^"]*)"', body)
    return found.group(1) if found else None


def get_page(url, headers=None):
    import urllib.request

    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read().decode()


def test_the_demo_sign_in_is_off_by_default(numi_only):
    body = get_page(f"{numi_only.numi}/?client=CLT-00321")
    assert not page_token(body) and "CLT-00321" not in body


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("demo"), extra_env={"NUMI_DEMO": "1", "NUMI_PROXIES_COUNT": "1"})
    yield s.start(rasa=False)
    s.stop()


def test_the_demo_sign_in_answers_only_this_machine(demo):
    token = page_token(get_page(f"{demo.numi}/?client=CLT-00321", {"X-Forwarded-For": "127.0.0.1"}))
    assert auth.verify(token, demo.secret, kind="customer")["sub"] == "CLT-00321"
    remote = get_page(f"{demo.numi}/?client=CLT-00321", {"X-Forwarded-For": "203.0.113.7"})
    assert not page_token(remote) and "CLT-00321" not in remote


def test_the_website_mints_customer_tokens_and_nobody_else(numi_only):
    s = numi_only
    website = s.staff_token("site-web", "website")
    status, body = http("POST", f"{s.numi}/api/customer-tokens", {"customer_id": "CLT-00321"}, token=website)
    assert status == 201 and body["expires_at"].endswith("Z")
    assert auth.verify(body["customer_token"], s.secret, kind="customer")["sub"] == "CLT-00321"
    status, conv = http("POST", f"{s.numi}/chat/conversations", {"customer_token": body["customer_token"]})
    assert status == 201 and ".CLT-00321." in conv["conversation_id"]
    assert http("POST", f"{s.numi}/api/customer-tokens", {"customer_id": "CLT-00321"})[0] == 401
    for role in ("hotliner", "level2", "supervisor", "trainer"):
        token = s.staff_token(f"x-{role}", role)
        assert http("POST", f"{s.numi}/api/customer-tokens", {"customer_id": "CLT-00321"}, token=token)[0] == 403
    assert http("POST", f"{s.numi}/api/customer-tokens", {"customer_id": "CLT-99999"}, token=website)[0] == 404
    for bad in ({"customer_id": ["CLT-00321"]}, {"customer_id": "clt 1; drop"}, {}, {"customer_id": "CLT-1", "x": 1}):
        assert http("POST", f"{s.numi}/api/customer-tokens", bad, token=website)[0] == 422
    # the website role can do nothing else
    assert http("GET", f"{s.numi}/api/tickets", token=website)[0] == 403


def test_an_admin_imports_customers_over_the_api(numi_only):
    s = numi_only
    body = {"first_name": "Inès", "last_name": "Roux", "email": "ines.roux@example.fr", "phone": "06 11 22 33 44",
            "segment": "vip", "satisfaction": 4}
    status, created = http("PUT", f"{s.numi}/api/customers/CLT-07001", body, token=s.admin_token)
    assert status == 201 and created["email"] == "ines.roux@example.fr" and created["segment"] == "vip"
    status, updated = http("PUT", f"{s.numi}/api/customers/CLT-07001", dict(body, phone=None, last_name="Roux-Blanc"),
                           token=s.admin_token)
    assert status == 200 and updated["phone"] is None and updated["last_name"] == "Roux-Blanc"
    for bad in ({"first_name": "A"}, {"first_name": "A", "last_name": ["B"]}, dict(body, email="pas-un-mail"),
                dict(body, satisfaction=9), dict(body, satisfaction="4"), dict(body, unknown=1)):
        status, reply = http("PUT", f"{s.numi}/api/customers/CLT-07002", bad, token=s.admin_token)
        assert status == 422 and reply["field"], bad
    assert http("PUT", f"{s.numi}/api/customers/not-an-id", body, token=s.admin_token)[0] == 422
    events = http("GET", f"{s.numi}/api/audit?target=CLT-07001", token=s.admin_token)[1]["events"]
    assert [e["action"] for e in events] == ["customer_updated", "customer_created"]
