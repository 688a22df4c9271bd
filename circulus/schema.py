"""The OpenAPI schema tells every error an operation can answer, not only its success.

Every operation of the API may answer 400 (a query parameter or body it refuses), 401 (no or a
bad token), 403 (a role that may not), 404 (no such object or page, or a `format` it cannot
render), 429 (too many bad tokens) and 503 (the database or the task queue unreachable); writes
also 409 (conflicts with stored data), 413 (a body over the limit) and 415 (a body of another
media type). Codes a view declares itself (with `extend_schema`) keep their body, which then
may also be the generic error of the same code (a 403 refusing the role, not the row).
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

DETAIL = {
    "type": "object",
    "description": "An error in words: what was refused and why.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
PROBLEMS = {
    "description": (
        "What was refused: each parameter or field named with its messages, or a list of them."
    ),
    "anyOf": [
        {"type": "object", "additionalProperties": {}},
        {"type": "array", "items": {}},
    ],
}
ERRORS = {
    "400": ("Refused: a parameter or field is not valid (named in the body).", "Problems"),
    "401": ("No token, or a token that is unknown, expired or of a deactivated user.", "Detail"),
    "403": ("Your role may not do this.", "Detail"),
    "404": (
        "No such object (or one hidden from your role), no such page, or a `format` this "
        "operation cannot render.",
        "Detail",
    ),
    "409": ("Conflicts with the stored data (named in the body).", "Problems"),
    "413": ("The request body is larger than the limit.", "Problems"),
    "415": ("The body is of a media type this operation does not take.", "Detail"),
    "429": ("Too many unknown tokens from your address: wait Retry-After seconds.", "Detail"),
    "503": (
        "The database or the task queue cannot be reached: retry after Retry-After seconds.",
        "Detail",
    ),
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
URI_TOO_LONG = (
    "The address with its query is longer than the server takes (gunicorn's request line of "
    "4,094 bytes): send fewer or shorter parameters."
)


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        for parameter in (operation or {}).get("parameters", []):
            if parameter.get("in") == "query":
                _never_empty(parameter.get("schema", {}))
        return operation

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.DecimalField)
            and schema.get("type") == "string"
        ):
            return {"anyOf": [_decimal_number(field), schema]}
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            description, name = ERRORS[code]
            ref = self._error_component(name)
            declared = responses.get(code)
            if declared is None:
                responses[code] = {
                    "description": description,
                    "content": {"application/json": {"schema": ref}},
                }
                continue
            for media in declared.get("content", {}).values():
                if "schema" in media and media["schema"] != ref:
                    media["schema"] = {"anyOf": [media["schema"], ref]}
        # Answered by gunicorn before the request reaches the application (its page is HTML).
        responses.setdefault("414", {"description": URI_TOO_LONG})
        return responses

    def _error_codes(self) -> list[str]:
        # 404 everywhere: one object, a page that is not there, or a `format` the operation
        # cannot render (DRF's format override answers 404 to any operation).
        codes = ["400", "401", "403", "404", "429", "503"]
        if self.method in WRITES:
            codes.append("409")
            if self.method != "DELETE":
                codes += ["413", "415"]
        return sorted(codes)

    def _error_component(self, name: str) -> dict:
        schema = DETAIL if name == "Detail" else PROBLEMS
        component = ResolvedComponent(
            name=f"Error{name}", type=ResolvedComponent.SCHEMA, object=f"Error{name}", schema=schema
        )
        self.registry.register_on_missing(component)
        return component.ref


def _never_empty(schema: dict) -> None:
    """A query parameter is never empty: the API refuses `?site=` naming it
    (circulus.api.RefuseEmptyQueryParameters), so a text parameter says minLength 1."""
    schema = schema.get("items", schema) if schema.get("type") == "array" else schema
    if schema.get("type") == "string" and "enum" not in schema:
        schema["minLength"] = max(1, schema.get("minLength", 0))


def _decimal_number(field) -> dict:
    """A decimal in a request may be a JSON number as well as text (`12.5` or `"12.5"`): DRF
    reads both exactly as written, and clients send numbers. Bounded by the field's digits."""
    number = {"type": "number"}
    if field.max_digits is not None:
        whole = 10 ** (field.max_digits - (field.decimal_places or 0))
        number.update(maximum=whole, exclusiveMaximum=True, minimum=-whole, exclusiveMinimum=True)
    if field.max_value is not None:
        number.update(maximum=float(field.max_value), exclusiveMaximum=False)
    if field.min_value is not None:
        number.update(minimum=float(field.min_value), exclusiveMinimum=False)
    return number
