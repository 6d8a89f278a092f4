"""The contact form is offered exactly when the server would accept the change (issue 18), in Chromium.

The server here is configured with GRIDATLAS_CONTACT_EDITOR_ROLES=["dispatcher"] (not the default
dispatcher + agent): the page reads GET /api/v1/me once after sign-in, so the agent sees the history
but no form (and the server indeed refuses the agent's change), the dispatcher gets the form. Both stores.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import STORES
from tests.map_ui.serving import add_keys, free_socket, sample_city, serving
from tests.map_ui.test_contact_browser import STALE, _open_view
from tests.map_ui.test_map_browser import (  # noqa: F401  (fixtures)
    _KEY,
    _api,
    browser,
    chromium_path,
    open_map,
)

pytestmark = pytest.mark.browser

EDIT = "PATCH /api/v1/customers/{account_no}/contact"


@pytest.fixture(scope="module", params=STORES)
def base_url(request: pytest.FixtureRequest, chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over the sample city with only dispatchers allowed to change contacts."""
    from api.app import create_app
    from api.settings import Settings

    with sample_city(request, tmp_path_factory, "rights") as url:
        keys = add_keys(url, {"rights-dispatcher": "dispatcher", "rights-agent": "agent"})
        _KEY.update(token=keys["rights-dispatcher"], agent=keys["rights-agent"])
        app = create_app(Settings(database_url=url, environment="test", contact_editor_roles=("dispatcher",)))
        sock = free_socket()
        try:
            with serving(app, sock, name="uvicorn-rights") as root:
                yield root
        finally:
            sock.close()


def test_editor_roles_from_me_agent_sees_no_form_dispatcher_does(open_map: Any) -> None:
    acct = STALE[0]["account_no"]
    agent = open_map(key="agent")
    panel = _open_view(agent, acct)
    me = agent.page.evaluate("() => window.gridatlas.me")
    assert me["role"] == "agent" and EDIT not in me["operations"]
    assert agent.page.evaluate("() => window.gridatlas.view.role") == "agent"
    assert panel.locator(".ga-stale [data-code=contact_unverified]").count() == 1     # the prompt, but no form
    assert panel.locator(".ga-contact-open").count() == 0 and panel.locator(".ga-contact-form").count() == 0
    contact = _api(agent.base_url, f"/api/v1/customers/{acct}/contact", key="agent")
    with pytest.raises(urllib.error.HTTPError) as refused:            # and the server would refuse it indeed
        _api(agent.base_url, f"/api/v1/customers/{acct}/contact", {"touchpoint": "call_centre", "confirm": True},
             key="agent", method="PATCH", headers={"If-Match": contact["etag"]})
    assert refused.value.code == 403
    assert agent.rec.console_errors == [] and agent.rec.page_errors == [] and agent.rec.failed == []

    dispatcher = open_map()
    panel = _open_view(dispatcher, acct)
    assert EDIT in dispatcher.page.evaluate("() => window.gridatlas.me.operations")
    button = panel.locator(".ga-stale .ga-contact-open")
    assert button.count() == 1
    button.click()
    panel.locator(".ga-contact-form").wait_for(state="visible")
    assert dispatcher.rec.console_errors == [] and dispatcher.rec.page_errors == [] and dispatcher.rec.failed == []
