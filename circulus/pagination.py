"""Pagination that refuses what it cannot apply, like the filters (circulus/filters.py)."""

from rest_framework.exceptions import ValidationError


class StrictPageSize:
    """A `page_size` that is not a whole number from 1 up is a 400 naming it (DRF's default
    silently falls back to the default size); above the maximum it is the maximum."""

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.strip().isdigit() and int(raw) >= 1):
            raise ValidationError(
                {self.page_size_query_param: [f"a whole number from 1 to {self.max_page_size}"]}
            )
        return super().get_page_size(request)
