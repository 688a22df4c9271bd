import django_filters

from circulus.filters import FilterSet, IntegerFilter
from hardware.models import HardwareKind, HardwareModel


class HardwareModelFilter(FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=HardwareKind.choices, distinct=False)
    manufacturer = django_filters.CharFilter(field_name="manufacturer__slug")
    memory_gb_min = django_filters.NumberFilter(field_name="memory_gb", lookup_expr="gte")
    memory_gb_max = django_filters.NumberFilter(field_name="memory_gb", lookup_expr="lte")
    release_year_min = IntegerFilter(field_name="release_year", lookup_expr="gte")
    release_year_max = IntegerFilter(field_name="release_year", lookup_expr="lte")
    holds_data = django_filters.BooleanFilter()

    class Meta:
        model = HardwareModel
        fields = (
            "kind",
            "manufacturer",
            "holds_data",
            "weee_category",
            "supports_bf16",
            "supports_fp8",
        )
