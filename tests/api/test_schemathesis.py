"""schemathesis against the app in-process (``api.app:create_app``) on both stores.

Every operation of the OpenAPI document gets generated requests (valid and invalid) with an
admin key; every response must pass schemathesis' default checks: no 5xx, the status code
and content type are documented, the body conforms to the documented schema. The number of
examples per operation is kept small so the run stays well under two minutes for both stores.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, reject, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import get_client

from api.app import create_app
from api.limits import check_bbox_area, parse_bbox
from api.settings import Settings
from tests.api.conftest import keys_for
from gis.errors import InvalidInput
from tests.conftest import STORES

MAX_EXAMPLES = 20
ENDLESS_STREAMS = {"/api/v1/events"}


@pytest.fixture(scope="module", params=STORES)
def served_app(request, tmp_path_factory) -> Iterator[tuple[object, str]]:
    """An app over a fresh copy of the sample city, with an admin key; (app, token)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("schemathesis") / "store.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_templates")["city"], path)
        url, cleanup = f"sqlite:///{path}", None
    else:
        cluster = request.getfixturevalue("pg_cluster")
        name = cluster.create(f"{cluster.prefix}{uuid.uuid4().hex[:10]}", template=cluster.template("city"))
        url = cluster.url(name)

        def cleanup() -> None:
            cluster.drop(name)
            cluster.created.remove(name)

    token = keys_for(url)["admin"]
    app = create_app(Settings(database_url=url, rate_limit_per_s=0, reload_interval_s=0))
    try:
        yield app, token
    finally:
        if cleanup is not None:
            cleanup()


#: Plans and isolation requests carry rules a JSON schema cannot state (a window needs both
#: ends and end > start, an action fits only some element kinds, an element may appear once,
#: a step must name an element of the grid; an uploaded archive must be a readable CSV/XLSX
#: with the required columns; a search needs something searchable, not only spaces or
#: punctuation; a contact change needs the record's ETag and a call an existing agent and call; an interaction's
#: time must parse and its place lie in the service area, heat lists name known channels and kinds and ``to`` is
#: not before ``from``, an area id is an H3 cell; a trouble-call window must end after it starts and span at most
#: the configured days; an alert moves only along its workflow (409); a lexicon entry must exist to be removed and
#: keep a letter or digit after normalization; the WeChat callback needs the platform's signature, which a
#: generated request cannot have (403); a date-time outside 1900–9000 UTC, which JSON Schema's date-time cannot
#: bound): for these operations a schema-valid request may
#: get a 422 naming the rule it breaks, and a stored plan's update a 412/428 (If-Match).
#: Issue 16: an execution or an outage whose end precedes its start, an outage naming an account
#: the store does not hold, a reliability period that is not a date/zoned time or ends before it starts.
#: Issue 18: a data-quality rule named with a field it does not apply to (conflicting + address).
#: Every other check stays on for them, and every check stays on for all other operations.
CONFIG = """
[[operations]]
include-path-regex = "^/api/v1/(impact|impact/export|isolation|plans|plans/[^/]+|plans/[^/]+/status|imports/customers|search|customers/[^/]+/contact|calls/incoming|calls/[^/]+/close|plans/[^/]+/execution|outages|reliability|reliability[.]xlsx|interactions|imports/interactions|heat|hotspots|heat/areas/[^/]+/[^/]+/interactions|trouble-calls|alerts/[^/]+/(ack|resolve|false-positive)|lexicon/(words|allow)(/[^/]+)?|wechat/callback|audit|customers/[^/]+|customers/[^/]+/fields|plans/[^/]+/consultation|plans/[^/]+/windows|data-quality(/viewport)?)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "412", "422", "428", "429"]
"""


def _ready_schema(app):
    """The app's schema; waits until the app (its lifespan started by schemathesis) is ready."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_str(CONFIG))
    deadline = time.monotonic() + 60
    with get_client(app) as http:
        while http.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "the app never became ready"
            time.sleep(0.05)
    return schema


def _semantically_valid(case, app_settings) -> bool:
    """False for a schema-valid request the API must refuse for reasons a JSON schema cannot
    state: a bbox whose min exceeds its max or whose area exceeds the limit for its zoom."""
    query = case.query or {}
    if "bbox" not in query:
        return True
    try:
        zoom = query.get("zoom")
        check_bbox_area(parse_bbox(str(query["bbox"])), float(zoom) if zoom is not None else None, app_settings)
    except (InvalidInput, ValueError):
        return False
    return True


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_conforms_to_its_openapi(served_app, mode):
    """(schemathesis 4's pytest loader ``from_fixture`` does not run under pytest 9, so each
    operation's strategy is driven by hypothesis here, with the same default checks.)"""
    app, token = served_app
    schema = _ready_schema(app)
    app_settings = app.state.settings
    auth = {"Authorization": f"Bearer {token}"}
    failures: dict[str, str] = {}
    # An endless Server-Sent-Events stream cannot be called and validated as one request and
    # response; tests/api/test_events_http.py covers its statuses, content type and errors.
    operations = [op for op in (result.ok() for result in schema.get_all_operations())
                  if op.path not in ENDLESS_STREAMS]
    assert len(operations) >= 10

    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None, derandomize=True)
        def run(case) -> None:
            if mode is GenerationMode.POSITIVE and not _semantically_valid(case, app_settings):
                reject()
            case.call_and_validate(headers=auth)

        try:
            run()
        except Unsatisfiable:
            # an operation without parameters or body has no invalid input to send
            assert mode is GenerationMode.NEGATIVE and not operation.query and not operation.body, operation.label
        except Exception as exc:  # collect every operation's failure, then report them all
            failures[operation.label] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
