"""Shared API plumbing: parsers, the exception handler and JSON error pages.

No input makes the API answer 500: bad bodies are refused by the parser, database refusals
(constraint, range, protected reference) become 4xx naming the field, and whatever still
escapes is answered as JSON without its internal text.
"""

import codecs
import json
import logging
import sys

from django.apps import apps
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError, models
from django.db.models.deletion import ProtectedError, RestrictedError
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.views import exception_handler as drf_exception_handler

from circulus import bounds
from circulus.races import LOST_RACE_MESSAGE, lost_race

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 32  # far deeper than any request body of this API


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "conflicts with the stored data"
    default_code = "conflict"


class ServiceUnavailable(exceptions.APIException):
    """503 with Retry-After: a service the request needs is down; the same request may succeed
    once it is back, and nothing was half-done."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"
    retry_after_seconds = 30
    public = True  # a job that records it shows this text as is


class DatabaseUnavailable(ServiceUnavailable):
    default_detail = "The database cannot be reached just now; nothing was changed. Try again."


class QueueUnavailable(ServiceUnavailable):
    default_detail = (
        "The task queue cannot be reached: the job was not queued and is marked failed. "
        "Retry it once the queue is back."
    )


# A lost or refused database connection (PostgreSQL restarting, a backend killed, a full
# connection table): not the request's fault, so 503 and try again, never 500.
DATABASE_DOWN = (OperationalError, InterfaceError)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too large"
    default_code = "too_large"


def exception_handler(exc, context):
    """Model `clean()` errors, constraint and range violations and protected deletes reach API
    clients as 4xx with the field (or referrers) named, never as a 500 with database text."""
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = serializers.ValidationError(detail)
    elif isinstance(exc, ProtectedError | RestrictedError):
        exc = Conflict(referrers_message(_counts(exc)))
    elif isinstance(exc, IntegrityError) and _sqlstate(exc) == NOT_NULL_VIOLATION:
        column = getattr(exc.__cause__.diag, "column_name", None) or "non_field_errors"
        exc = serializers.ValidationError({column: ["this field may not be null"]})
    elif isinstance(exc, IntegrityError):
        log.info("integrity error answered 409: %s", exc)
        exc = Conflict(integrity_detail(exc))
    elif lost_race(exc):
        # Two writers waited on each other and the database chose this one: nothing was written.
        log.info("lost race answered 409: %s", exc)
        exc = Conflict(LOST_RACE_MESSAGE)
    elif isinstance(exc, DataError):
        log.info("data error answered 400: %s", exc)
        exc = serializers.ValidationError(
            {"non_field_errors": ["a value is out of range or not valid for its field"]}
        )
    elif isinstance(exc, RequestDataTooBig):
        exc = exceptions.ValidationError({"detail": "the request body is too large"})
        response = drf_exception_handler(exc, context)
        response.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        return response
    elif isinstance(exc, bounds.TooLarge):
        exc = PayloadTooLarge(exc.reason)
    elif isinstance(exc, bounds.Refused):
        exc = exceptions.ParseError(exc.reason)
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("the request could not be read")
    elif isinstance(exc, DATABASE_DOWN):
        log.error("database unavailable, answered 503: %s", exc)
        exc = DatabaseUnavailable()
    response = drf_exception_handler(exc, context)
    if isinstance(exc, ServiceUnavailable) and response is not None:
        response["Retry-After"] = str(exc.retry_after_seconds)
    return response


# --- constraint violations ---------------------------------------------------------------------


def _constraint_fields() -> dict[str, tuple[str, ...]]:
    """Constraint name → the API field names it covers, for every model."""
    names: dict[str, tuple[str, ...]] = {}
    for model in apps.get_models():
        table = model._meta.db_table
        for constraint in model._meta.constraints:
            fields = getattr(constraint, "fields", ()) or ()
            names[constraint.name] = tuple(fields)
        for field in model._meta.concrete_fields:
            if field.unique and not field.primary_key:
                # PostgreSQL's own name for a column's UNIQUE constraint.
                names[f"{table}_{field.column}_key"] = (field.name,)
    return names


NOT_NULL_VIOLATION = "23502"


def _sqlstate(exc: Exception) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None)


def integrity_detail(exc: IntegrityError) -> dict:
    cause = exc.__cause__
    constraint = getattr(getattr(cause, "diag", None), "constraint_name", None)
    fields = _constraint_fields().get(constraint or "", ())
    fields = tuple(f for f in fields if f not in ("user",)) or ("non_field_errors",)
    reason = "already exists (it was created meanwhile or is stored)"
    return {name: [reason] for name in fields}


# --- deletes of referenced objects -------------------------------------------------------------


def protected_referrers(instance: models.Model, limit: int = 1000) -> dict[str, int]:
    """{referring model's verbose name plural: count (capped at `limit`)} over the PROTECT and
    RESTRICT relations to `instance`: a few indexed queries, whatever the number of referrers."""
    counts = {}
    for relation in instance._meta.related_objects:
        on_delete = getattr(relation, "on_delete", None)
        if on_delete not in (models.PROTECT, models.RESTRICT) or relation.many_to_many:
            continue
        model = relation.related_model
        referring = model._base_manager.filter(**{relation.field.name: instance})
        count = referring[:limit].count()
        if count:
            counts[str(model._meta.verbose_name_plural)] = count
    return counts


def referrers_message(counts: dict[str, int], limit: int = 1000) -> str:
    if not counts:
        return "other records still refer to it; remove or reassign them first"
    listed = ", ".join(
        f"{'at least ' if n >= limit else ''}{n} {name}" for name, n in sorted(counts.items())
    )
    return f"still referred to by {listed}; remove or reassign them first"


def _counts(exc: ProtectedError | RestrictedError) -> dict[str, int]:
    objects = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
    counts: dict[str, int] = {}
    for index, obj in enumerate(objects):
        if index >= 1000:
            break
        name = str(obj._meta.verbose_name_plural)
        counts[name] = counts.get(name, 0) + 1
    return counts


class ProtectedDestroyMixin:
    """DELETE answers 409 naming what still refers to the object, before Django's deletion
    collector would load every referring row (millions of readings under a site)."""

    def perform_destroy(self, instance):
        counts = protected_referrers(instance)
        if counts:
            raise Conflict(referrers_message(counts))
        instance.delete()


# --- request bodies ----------------------------------------------------------------------------


def _check_json(value, path: str = "", depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise exceptions.ParseError(f"NUL character in {path or 'the body'}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise exceptions.ParseError("NUL character in a key")
            _check_json(item, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]", depth + 1)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing (400) what would otherwise crash deeper down: nesting past
    MAX_JSON_DEPTH, NUL characters (PostgreSQL text cannot hold them), undecodable bytes."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            text = codecs.getreader(encoding)(stream).read()
            data = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError as exc:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        _check_json(data)
        return data


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def require_object(data) -> dict:
    """The body as a dict, or a 400 saying a JSON object was expected."""
    if not isinstance(data, dict):
        raise exceptions.ValidationError(
            {"non_field_errors": [f"expected a JSON object, got {type(data).__name__}"]}
        )
    return data


def int_bounds(model, name: str) -> dict:
    """min_value/max_value of an integer model field's type, for a plain serializer field.

    The ranges of the type (as PostgreSQL stores it), not of the connection: SQLite would take
    any 64-bit value, and the API must answer alike on every database.
    """
    from django.db.backends.base.operations import BaseDatabaseOperations

    field = model._meta.get_field(name)
    low, high = BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]
    return {"min_value": low, "max_value": high}


# --- error pages outside DRF (Django's are HTML) -----------------------------------------------


def _api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    if not _api(request):
        return defaults.bad_request(request, exception)
    return JsonResponse({"detail": "bad request"}, status=400)


def permission_denied(request, exception=None):
    if not _api(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse({"detail": "forbidden"}, status=403)


def page_not_found(request, exception=None):
    if not _api(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": "not found"}, status=404)


def server_error(request):
    exc = sys.exc_info()[1]
    if isinstance(exc, DATABASE_DOWN):
        exc = DatabaseUnavailable()
    if isinstance(exc, ServiceUnavailable):  # outside DRF: the admin, the site, middleware
        text = str(exc.detail)
        response = (
            JsonResponse({"detail": text}, status=503)
            if _api(request)
            else HttpResponse(text, status=503, content_type="text/plain; charset=utf-8")
        )
        response["Retry-After"] = str(exc.retry_after_seconds)
        return response
    if not _api(request):
        return defaults.server_error(request)
    return JsonResponse({"detail": "internal error; it has been logged"}, status=500)


def reject_nul_in_url(get_response):
    """Middleware: a NUL in the path or query string is a 400, not a database error later."""

    def middleware(request):
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return JsonResponse({"detail": "NUL character in the URL"}, status=400)
        return get_response(request)

    return middleware


EMPTY_PARAMETER = "empty: give a value, or leave the parameter out"


class RefuseEmptyQueryParameters:
    """Middleware: under /api/, a query parameter given empty (`?page=`, `?to=`, `?format=`) is a
    400 naming it, never read as "not given" (DRF, django-filter and the paginator each took
    some blanks as absent and answered 200, which schemathesis kept finding one door at a time).
    One rule for every API view, checked once the view is known, so that a method the view does
    not take is still its 405. An HTML form's blanks are the admin's to read, and a page view
    may say `takes_empty_query_parameters` (the API docs load their script from `?script=`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.path_info.startswith("/api/") or not _takes(view_func, request.method):
            return None
        empty = sorted(
            name
            for name in request.GET
            if not any(value.strip() for value in request.GET.getlist(name))
        )
        if empty:
            return JsonResponse({name: [EMPTY_PARAMETER] for name in empty}, status=400)
        return None


def _takes(view_func, method: str) -> bool:
    """Whether the view answers `method` itself (a viewset's actions, an APIView's handlers)."""
    view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    if getattr(view_class, "takes_empty_query_parameters", False):
        return False
    actions = getattr(view_func, "actions", None)
    if actions is not None:
        return method.lower() in actions
    return view_class is None or hasattr(view_class, method.lower())


@extend_schema_field(
    {"anyOf": [{"type": "string", "format": "uri"}, {"type": "string", "maxLength": 0}]}
)
class BlankableURLField(serializers.URLField):
    """A web address, or blank for none: the schema says both (format "uri" alone refuses the
    blank that the model allows, which schemathesis found on POST /api/manufacturers/)."""


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _type_error(field, value) -> str | None:
    """Why `value`, read from a JSON body, is not of the type the schema names for `field`."""
    if value is None:
        return None  # allow_null is the field's own rule
    if isinstance(field, serializers.BooleanField):
        wanted, ok = "true or false", isinstance(value, bool)
    elif isinstance(field, serializers.CharField):
        wanted, ok = "text", isinstance(value, str)
    elif isinstance(field, serializers.IntegerField):
        wanted, ok = "a whole number", isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(field, serializers.FloatField):
        wanted, ok = "a number", isinstance(value, int | float) and not isinstance(value, bool)
    else:
        return None
    return None if ok else f"expected {wanted}, got {_json_kind(value)}"


class StrictTypes:
    """A JSON body carries its own types, and the schema names them: a yes/no field takes true
    or false, a text field text, a count a whole number. DRF would coerce (`0` to false, `5`
    to "5", "5" to 5), which schemathesis counted as schema-violating requests accepted; the
    refusal names each field. Form bodies (a QueryDict, all text) keep DRF's reading."""

    def to_internal_value(self, data):
        if isinstance(data, dict) and not hasattr(data, "getlist"):
            wrong = {
                field.field_name: [reason]
                for field in self._writable_fields
                if field.field_name in data
                and (reason := _type_error(field, data[field.field_name]))
            }
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


class Serializer(StrictTypes, serializers.Serializer):
    """The project's base for a request body that is not a model's."""


class ModelSerializer(StrictTypes, serializers.ModelSerializer):
    """The project's base for a model's representation."""


class ValidatedModelSerializer(ModelSerializer):
    """Runs the model's full_clean() so the API reaches the same rules as the admin and importers.

    The idea is NetBox's: one validation path, the model is the truth.
    """

    def validate(self, attrs):
        attrs = super().validate(attrs)
        model = self.Meta.model
        m2m = {f.name for f in model._meta.many_to_many}
        plain = {k: v for k, v in attrs.items() if k not in m2m}
        if self.instance is None:
            instance = model(**plain)
        else:
            instance = self.instance
            for key, value in plain.items():
                setattr(instance, key, value)
        try:
            instance.full_clean(validate_unique=True)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs

    def build_standard_field(self, field_name, model_field):
        field_class, field_kwargs = super().build_standard_field(field_name, model_field)
        if isinstance(model_field, models.URLField) and model_field.blank:
            field_class = BlankableURLField
        return field_class, field_kwargs
