import django_filters
from django import forms
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from circulus.filters import FilterSet
from hardware.models import HardwareKind
from registry import expiry
from registry.lifecycle import EventKind, State
from registry.models import Asset, ExpiryNotice, LifecycleEvent, Site


@extend_schema_field(OpenApiTypes.INT)
class DaysFilter(django_filters.Filter):
    field_class = forms.IntegerField


class AssetFilter(FilterSet):
    site = django_filters.CharFilter(method="filter_site", help_text="site code")
    # distinct=False: the default SELECT DISTINCT costs a sort of every matching row.
    state = django_filters.MultipleChoiceFilter(choices=State.choices, distinct=False)
    kind = django_filters.MultipleChoiceFilter(
        field_name="hardware_model__kind", choices=HardwareKind.choices, distinct=False
    )
    hardware_model = django_filters.CharFilter(field_name="hardware_model__slug")
    memory_gb_min = django_filters.NumberFilter(
        field_name="hardware_model__memory_gb", lookup_expr="gte"
    )
    memory_gb_max = django_filters.NumberFilter(
        field_name="hardware_model__memory_gb", lookup_expr="lte"
    )
    purchased_after = django_filters.DateFilter(field_name="purchase_date", lookup_expr="gte")
    purchased_before = django_filters.DateFilter(field_name="purchase_date", lookup_expr="lte")
    eol_after = django_filters.DateFilter(field_name="planned_eol", lookup_expr="gte")
    eol_before = django_filters.DateFilter(field_name="planned_eol", lookup_expr="lte")
    parent = django_filters.CharFilter(field_name="parent__asset_tag", help_text="parent tag")
    tag = django_filters.CharFilter(field_name="asset_tag")
    serial = django_filters.CharFilter(field_name="serial_number")
    expiring_within = DaysFilter(
        min_value=0,
        max_value=3650,
        method="filter_expiring",
        help_text="Days: a warranty, support or planned end of life (those named in `expiring`, "
        "all three by default) falls from today to this many days ahead.",
    )
    expiring = django_filters.MultipleChoiceFilter(
        choices=ExpiryNotice.Kind.choices,
        method="filter_nothing",
        help_text="Which dates `expiring_within` looks at.",
    )

    class Meta:
        model = Asset
        fields = ()

    def filter_site(self, queryset, name, value):
        # The site's id as a constant (not a join on its code) lets PostgreSQL pick the
        # (state, site, id) index for ORDER BY id LIMIT n instead of walking the primary key.
        site_id = Site.objects.filter(code=value).values_list("id", flat=True).first()
        return queryset.filter(site_id=site_id) if site_id else queryset.none()

    def filter_expiring(self, queryset, name, value):
        kinds = self.form.cleaned_data.get("expiring") or None
        return expiry.expiring(queryset, value, timezone.localdate(), kinds)

    def filter_nothing(self, queryset, name, value):
        return queryset  # read by filter_expiring


class EventFilter(FilterSet):
    asset = django_filters.CharFilter(field_name="asset__asset_tag", help_text="asset tag")
    site = django_filters.CharFilter(field_name="site__code")
    kind = django_filters.MultipleChoiceFilter(choices=EventKind.choices, distinct=False)
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = LifecycleEvent
        fields = ()
