"""Filters refuse what they cannot apply: a value of the wrong type (`?year=0.5`) or an empty
one (`?purchased_before=`) is a 400 naming the parameter, never a silent "no filter" or an
empty page."""

import django_filters
from django import forms
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError

from circulus.api import EMPTY_PARAMETER, Serializer


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


INTEGER_FIELDS = (
    models.IntegerField,
    models.SmallIntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
    models.AutoField,
    models.BigAutoField,
    models.SmallAutoField,
)


class FilterSet(django_filters.FilterSet):
    """The project's FilterSet: whole numbers for integer columns (django-filter's default
    takes any decimal, so `year=0.5` matched nothing instead of being refused)."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        **{field: {"filter_class": IntegerFilter} for field in INTEGER_FIELDS},
    }


class FilterBackend(DjangoFilterBackend):
    filterset_base = FilterSet

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            # An empty parameter never gets here: circulus.api.RefuseEmptyQueryParameters.
            _refuse_loose_booleans(filterset, request.query_params)
        return filterset


# What a yes/no filter takes; django-filter maps anything else ("null", "maybe") to "no filter".
BOOLEAN_WORDS = {"true", "false", "1", "0"}


def _refuse_loose_booleans(filterset, params) -> None:
    wrong = sorted(
        name
        for name, declared in filterset.filters.items()
        if isinstance(declared, django_filters.BooleanFilter)
        and name in params
        and any(v.strip().lower() not in BOOLEAN_WORDS for v in params.getlist(name) if v.strip())
    )
    if wrong:
        raise ValidationError({name: ["true or false"] for name in wrong})


class QuerySerializer(Serializer):
    """Base for a view's own query parameters, with the filters' rule: `?layout=` is a 400 naming
    the parameter, not the default (DRF reads an empty query value as "absent" for any field
    that has a default)."""

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            empty = sorted(
                name
                for name, field in self.fields.items()
                if name in data
                and not getattr(field, "allow_blank", False)
                and not any(v.strip() for v in data.getlist(name))
            )
            if empty:
                raise ValidationError({name: [EMPTY_PARAMETER] for name in empty})
        return super().to_internal_value(data)

    @classmethod
    def from_form(cls, query):
        """The same parameters from an HTML form, whose empty fields mean "not given"."""
        filled = query.copy()
        for name in list(filled):
            values = [v for v in filled.getlist(name) if v.strip()]
            if values:
                filled.setlist(name, values)
            else:
                del filled[name]
        return cls(data=filled)
