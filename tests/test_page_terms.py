"""The operator screen gets the shared terms (levels, heated states, ...) from
monitor.vocabulary in its page, instead of keeping copies in its JavaScript."""

import json
import re
from importlib import resources

from monitor import vocabulary
from monitor.web.broadcaster import Broadcaster
from monitor.web.server import create_app
from tests.screen_client import screen_access, signed_in_client

ELEMENT = re.compile(r'<script id="calmline-vocabulary" type="application/json">(.*?)</script>', re.S)


def test_the_operator_page_carries_the_shared_terms():
    access = screen_access()
    with signed_in_client(create_app(Broadcaster(), lambda *_: None, access), access) as client:
        page = client.get("/")
    assert page.status_code == 200
    found = ELEMENT.search(page.text)
    assert found, "the operator page has no vocabulary"
    assert json.loads(found.group(1)) == vocabulary.for_pages()
    assert vocabulary.PAGE_MARK not in page.text
    # a data element, not a script: the page's Content-Security-Policy still allows no inline script
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]


def test_the_operator_script_keeps_no_copy_of_the_terms():
    script = (resources.files("monitor.web") / "static" / "app.js").read_text(encoding="utf-8")
    assert '"escalated", "abusive"' not in script           # the levels and heated states
    assert "de_escalate:" not in script and "De-escalate\"" not in script   # the prompt kinds
