"""Every success response is declared in OpenAPI with a schema, and schemathesis checks bodies against it.

:func:`test_every_success_body_is_documented` walks the document the app serves: each operation's
2xx responses (except 204/304, which have no body) must name their media types, and a JSON body
(``application/json``, ``application/*+json``) must carry a schema that says something (a model
reference, properties, items or additionalProperties). Bodies that are not JSON are allowed only
for the media types below, and must be listed with their type. The schemathesis run
(``tests/api/test_schemathesis.py``) then validates every response body against these schemas:
:func:`test_schemathesis_fails_a_body_that_breaks_its_schema` proves that its configuration does.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.responses import Response
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel
from schemathesis.config import SchemathesisConfig

from api.app import create_app
from api.settings import Settings
from tests.api import test_schemathesis as suite

#: Bodies that are not JSON: downloads and streams, described by their media type.
NON_JSON = frozenset({
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "text/html",
    "text/event-stream",
    "text/plain",  # the WeChat callback: the platform's protocol answers "success" or the echoed string
})
_NO_BODY = frozenset({"204", "304"})


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _says_something(schema: dict[str, Any] | None) -> bool:
    if not schema:
        return False
    if "$ref" in schema or "properties" in schema or "items" in schema:
        return True
    if isinstance(schema.get("additionalProperties"), dict) and schema["additionalProperties"]:
        return True  # a mapping with typed values (dict[str, Any] gives ``true``: says nothing)
    return any(_says_something(s) for key in ("anyOf", "oneOf", "allOf") for s in schema.get(key, ()))


def undocumented(document: dict[str, Any]) -> list[str]:
    """'METHOD /path status: why' for every 2xx response whose body the document does not describe."""
    out = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
            if not successes:
                out.append(f"{method.upper()} {path}: no 2xx response")
            for status, response in successes.items():
                content = response.get("content") or {}
                if status in _NO_BODY:
                    continue
                if not content:
                    out.append(f"{method.upper()} {path} {status}: no media type")
                for media_type, body in content.items():
                    if _is_json(media_type):
                        if not _says_something(body.get("schema")):
                            out.append(f"{method.upper()} {path} {status}: {media_type} body has no schema")
                    elif media_type not in NON_JSON:
                        out.append(f"{method.upper()} {path} {status}: {media_type} is neither JSON nor an allowed download")
    return out


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings(database_url="sqlite:///unused-not-opened.sqlite")).openapi()


def test_every_success_body_is_documented(document):
    missing = undocumented(document)
    assert not missing, "declare these bodies (responses={200: {'model': …}}, see api/outputs.py):\n" + "\n".join(missing)


def test_the_check_finds_an_undocumented_body():
    """The walker itself: a route returning an untyped dict and one returning a bare GeoJSON Response are found."""
    app = FastAPI()

    @app.get("/api/v1/loose")
    def loose() -> dict[str, Any]:
        return {}

    @app.get("/api/v1/bare", response_class=Response, responses={200: {"content": {"application/geo+json": {}}}})
    def bare() -> Response:
        return Response(b"{}")

    found = undocumented(app.openapi())
    assert any(f.startswith("GET /api/v1/loose 200") for f in found), found
    assert any(f.startswith("GET /api/v1/bare 200: application/geo+json") for f in found), found


def test_schemathesis_validates_response_bodies_for_every_operation(document):
    """The suite's configuration leaves ``response_schema_conformance`` on for every operation."""
    config = SchemathesisConfig.from_str(suite.CONFIG)
    schema = schemathesis.openapi.from_dict(document, config=config)
    for result in schema.get_all_operations():
        operation = result.ok()
        checks = schema.config.checks_config_for(operation=operation, phase=None)
        assert checks.response_schema_conformance.enabled, operation.label
        assert checks.content_type_conformance.enabled, operation.label


class _Declared(BaseModel):
    count: int


def test_schemathesis_fails_a_body_that_breaks_its_schema():
    """A route declaring ``{count: integer}`` and sending a string: the suite's way of calling
    schemathesis (``call_and_validate`` with its configuration) reports it."""
    app = FastAPI()

    @app.get("/api/v1/counted", responses={200: {"model": _Declared}})
    def counted() -> dict[str, Any]:
        return {"count": "many"}

    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_str(suite.CONFIG))
    operation = next(r.ok() for r in schema.get_all_operations())

    @given(case=operation.as_strategy())
    @settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case) -> None:
        case.call_and_validate()

    with pytest.raises(BaseException) as failure:  # schemathesis raises a failure group naming the check
        run()
    assert "Response violates schema" in str(failure.value), failure.value
