"""The OpenAPI document of the JSON API, generated from the views and their marshmallow schemas.

Each JSON view describes itself with :func:`document`, next to its route, using the same
schemas it loads and dumps with; :func:`build_spec` walks ``app.url_map`` and collects every
documented view, so a new endpoint is in the document as soon as its blueprint is registered.
A test checks that every GET route under ``/api/v1`` is documented, so none can be forgotten.

Why not apispec's YAML docstrings or apispec-webframeworks' FlaskPlugin: both need extra
packages (PyYAML, apispec-webframeworks), and a Python dict keeps the schema classes
themselves in the operation, so a renamed schema breaks loudly instead of silently.

Typical use in a view module::

    @bp.get("/things/<int:thing_id>")
    @document(
        summary="One thing",
        tags=["things"],
        responses={200: json_response(ThingSchema, "The thing."), **error_responses(404)},
    )
    def get_thing(thing_id): ...
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

from marketplace.pagination import PageLinksSchema, PageMetaSchema
from marketplace.schemas import ErrorSchema

API_TITLE = "Marketplace API"
API_VERSION = "1.0.0"
OPENAPI_VERSION = "3.1.0"

_ATTRIBUTE = "__openapi__"
_EXTRA_SCHEMAS = "marketplace.openapi.schemas"

# Component responses for the error envelope, referenced by name from operations.
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request could not be understood."),
    401: ("Unauthorized", "Authentication is required."),
    403: ("Forbidden", "The credentials do not allow this."),
    404: ("NotFound", "No such resource."),
    405: ("MethodNotAllowed", "The resource does not accept this method."),
    409: ("Conflict", "The resource changed in a way that conflicts with the request."),
    413: ("PayloadTooLarge", "The upload is larger than accepted; the message gives the limit."),
    422: ("ValidationFailed", "Some input is invalid; `error.fields` names each field."),
    429: ("TooManyRequests", "Rate limited; retry later."),
    503: ("Unavailable", "A backing service (database, Redis) is down; retry later."),
}

# <int:thing_id> -> converter "int", variable "thing_id"
_RULE_VARIABLE = re.compile(
    r"<(?:(?P<converter>[A-Za-z_]\w*)(?:\([^)]*\))?:)?(?P<variable>[A-Za-z_]\w*)>"
)
_CONVERTER_SCHEMAS: dict[str, dict[str, str]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}

V = TypeVar("V", bound=Callable[..., Any])


def document(method: str = "get", **operation: Any) -> Callable[[V], V]:
    """Attach an OpenAPI Operation Object for ``method`` to a view function.

    ``operation`` is the Operation Object as keyword arguments (``summary``, ``tags``,
    ``parameters``, ``requestBody``, ``responses``...). Marshmallow schema classes or
    instances may stand wherever OpenAPI expects a schema; a ``{"in": "query", "schema":
    SomeSchema}`` parameter expands to one parameter per field. Path parameters are derived
    from the URL rule. Stack the decorator once per method for views serving several.
    """

    def decorate(view: V) -> V:
        operations = dict(getattr(view, _ATTRIBUTE, {}))
        operations[method.lower()] = operation
        setattr(view, _ATTRIBUTE, operations)
        return view

    return decorate


def json_response(schema: type[Schema] | Schema | dict, description: str) -> dict[str, Any]:
    """A Response Object whose JSON body is ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def page_of(schema: type[Schema] | Schema) -> dict[str, Any]:
    """The Schema Object of a paginated envelope (``Page.to_dict``) whose items are ``schema``."""
    return {
        "type": "object",
        "required": ["items", "meta", "links"],
        "properties": {
            "items": {"type": "array", "items": schema},
            "meta": PageMetaSchema,
            "links": PageLinksSchema,
        },
    }


def error_responses(*statuses: int) -> dict[int, str]:
    """References to the shared error responses, e.g. ``**error_responses(404, 422)``."""
    return {status: ERROR_RESPONSES[status][0] for status in statuses}


def register_schema(app: Flask, name: str, schema: type[Schema] | Schema) -> None:
    """Add a schema to ``components.schemas`` that no operation references (e.g. a webhook
    payload). Schemas used by documented views are added automatically."""
    app.extensions.setdefault(_EXTRA_SCHEMAS, {})[name] = schema


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """Turn a Werkzeug rule into an OpenAPI path template and its path parameters."""
    parameters = [
        {
            "in": "path",
            "name": match["variable"],
            "required": True,
            "schema": dict(_CONVERTER_SCHEMAS.get(match["converter"] or "", {"type": "string"})),
        }
        for match in _RULE_VARIABLE.finditer(rule)
    ]
    return _RULE_VARIABLE.sub(r"{\g<variable>}", rule), parameters


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for every view of ``app`` decorated with :func:`document`."""
    spec = APISpec(
        title=API_TITLE,
        version=API_VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={
            "description": (
                "The marketplace's versioned JSON API. Lists are paginated with `page` and "
                "`per_page` and answer with an `items`/`meta`/`links` envelope; every error "
                "answers with the `Error` envelope."
            )
        },
    )
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("PageMeta", schema=PageMetaSchema)
    spec.components.schema("PageLinks", schema=PageLinksSchema)
    for name, schema in app.extensions.get(_EXTRA_SCHEMAS, {}).items():
        spec.components.schema(name, schema=schema)
    for name, description in ERROR_RESPONSES.values():
        spec.components.response(name, json_response(ErrorSchema, description))

    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        documented = getattr(app.view_functions.get(rule.endpoint), _ATTRIBUTE, None)
        if not documented:
            continue
        methods = {m.lower() for m in rule.methods or ()}
        operations = {}
        for method, operation in documented.items():
            if method not in methods:
                continue
            operation = dict(operation)
            operation.setdefault(
                "operationId",
                rule.endpoint if len(documented) == 1 else f"{rule.endpoint}.{method}",
            )
            operations[method] = operation
        path, parameters = openapi_path(rule.rule)
        spec.path(path=path, operations=operations, parameters=parameters or None)
    return spec.to_dict()
