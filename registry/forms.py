"""Admin forms for the registry: the add-asset form and the record-event forms built from MOVES."""

from django import forms
from django.contrib.admin.widgets import AdminDateWidget, AdminSplitDateTime
from django.db import transaction
from django.utils import timezone

from registry import labels, services
from registry.lifecycle import METALS, MOVES, PREVIOUS, SAME, EventKind, State
from registry.models import Asset, LifecycleEvent, Site

DETAIL_LABELS = {
    "price": "price",
    "weighed_mass_kg": "weighed mass (kg)",
    "position_u": "position (U)",
    "site": "new site",
    "parent": "parent asset tag",
    "corrects": "corrects event",
    "to_state": "state after correction",
}
TEXTAREA_DETAILS = {"note", "work_done", "fault", "circumstances", "reason", "purpose"}
METAL_NAMES = {
    "au": "gold (Au)",
    "ag": "silver (Ag)",
    "pd": "palladium (Pd)",
    "cu": "copper (Cu)",
    "co": "cobalt (Co)",
    "ta": "tantalum (Ta)",
    "nd": "neodymium (Nd)",
    "al": "aluminium (Al)",
    "steel": "steel",
    "plastics": "plastics",
}


class _Abort(Exception):
    """Rolls back a dry run of a service call."""


def add_lifecycle_errors(form: forms.Form, error: services.LifecycleError, rename=None) -> None:
    """Show a refused event's messages against the fields they name (else above the form)."""
    rename = rename or {}
    for name, messages in error.message_dict.items():
        target = rename.get(name, name)
        for message in messages:
            if target in form.fields:
                form.add_error(target, message)
            else:
                form.add_error(None, f"{name}: {message}" if name != "__all__" else message)


def _now_local():
    return timezone.localtime().replace(microsecond=0)


# --- add asset -----------------------------------------------------------------------------------


class AssetCreateForm(forms.ModelForm):
    """A new asset and its `purchased` event, written by `services.create_asset`."""

    supplier = forms.CharField(max_length=200)
    price = forms.DecimalField(min_value=0, max_digits=12, decimal_places=2)
    currency = forms.CharField(max_length=3, initial="EUR", help_text="ISO 4217, e.g. EUR")
    purchase_date = forms.DateField(widget=AdminDateWidget)
    order_ref = forms.CharField(max_length=100, required=False, label="order reference")
    initial_state = forms.ChoiceField(
        choices=[(s.value, s.label) for s in (State.IN_STOCK, State.ORDERED)],
        initial=State.IN_STOCK,
        help_text="In stock if it has arrived, ordered if not yet delivered.",
    )
    occurred_at = forms.SplitDateTimeField(
        widget=AdminSplitDateTime, initial=_now_local, label="purchase recorded at"
    )

    class Meta:
        model = Asset
        fields = (
            "asset_tag",
            "serial_number",
            "hardware_model",
            "site",
            "room",
            "rack",
            "position_u",
            "owner",
            "warranty_end",
            "support_end",
            "planned_eol",
            "measured_mass_kg",
            "data_bearing",
            "notes",
        )

    DETAILS = ("supplier", "price", "currency", "purchase_date", "order_ref")
    actor = None  # set by the admin

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        details = {k: data.get(k) for k in self.DETAILS if data.get(k) not in (None, "")}
        if "price" in details:
            details["price"] = str(details["price"])
        if "purchase_date" in details:
            details["purchase_date"] = details["purchase_date"].isoformat()
        if "currency" in details:
            details["currency"] = details["currency"].upper()
        return {
            "occurred_at": data["occurred_at"],
            "actor": self.actor,
            "to_state": data["initial_state"],
            "details": details,
            **{name: data[name] for name in self._meta.fields if name in data},
        }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        # Run the service in a savepoint and roll it back: its refusals land on the form,
        # the one validation path stays the service's.
        try:
            with transaction.atomic():
                services.create_asset(**self.service_arguments())
                raise _Abort
        except _Abort:
            pass
        except services.LifecycleError as exc:
            add_lifecycle_errors(self, exc, rename={"to_state": "initial_state"})
        except forms.ValidationError as exc:
            if hasattr(exc, "error_dict"):
                add_lifecycle_errors(self, exc)
            else:
                raise
        return data

    def _post_clean(self):
        # The service validates the instance (full_clean) in `clean`; asset fields the service
        # sets from the purchase are not on the instance yet, so do not validate it twice.
        pass


# --- record event --------------------------------------------------------------------------------


class ChooseKindForm(forms.Form):
    kind = forms.ChoiceField(label="event", widget=forms.RadioSelect)

    def __init__(self, *args, kinds: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, EventKind(k).label) for k in kinds]


def _detail_field(kind: str, name: str, required: bool, asset: Asset | None) -> forms.Field:
    move = MOVES[kind]
    label = DETAIL_LABELS.get(name, name.replace("_", " "))
    common = {"required": required, "label": label}
    if name in move.choices:
        blank = [] if required else [("", "—")]
        return forms.ChoiceField(choices=blank + [(c, c) for c in move.choices[name]], **common)
    if name in ("price", "weighed_mass_kg"):
        return forms.DecimalField(min_value=0, decimal_places=3, **common)
    if name == "purchase_date":
        return forms.DateField(widget=AdminDateWidget, **common)
    if name == "position_u":
        return forms.IntegerField(min_value=0, max_value=32767, **common)
    if name == "site":
        return forms.ModelChoiceField(Site.objects.all(), to_field_name="code", **common)
    if name == "corrects":
        events = LifecycleEvent.objects.filter(asset=asset) if asset else LifecycleEvent.objects
        return forms.ModelChoiceField(events.order_by("-occurred_at", "-id"), **common)
    if name == "to_state" and kind == EventKind.CORRECTION:
        return forms.ChoiceField(choices=[("", "— unchanged —"), *State.choices], **common)
    if name == "details":
        return forms.JSONField(**common)
    widget = forms.Textarea(attrs={"rows": 2, "cols": 60}) if name in TEXTAREA_DETAILS else None
    return forms.CharField(max_length=500, widget=widget, **common)


def _metal_fields() -> dict[str, forms.Field]:
    """Recovered metals as one number per metal; blank means not reported, never 0."""
    return {
        f"recovered_g_{metal}": forms.DecimalField(
            required=False,
            min_value=0,
            max_digits=15,
            decimal_places=3,
            label=f"recovered {METAL_NAMES.get(metal, metal)} (g)",
            help_text="grams the recycler reported; leave blank if not reported"
            if metal == METALS[0]
            else "",
        )
        for metal in METALS
    }


class EventDetailsForm(forms.Form):
    """When it happened, where it leads (if the kind has a choice) and exactly its details."""

    def __init__(self, *args, kind: str, asset: Asset | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.asset = kind, asset
        move = MOVES[kind]
        self.fields["occurred_at"] = forms.SplitDateTimeField(
            widget=AdminSplitDateTime, initial=_now_local, label="happened at"
        )
        targets = [t for t in move.targets if t not in (SAME, PREVIOUS)]
        if len(targets) > 1:
            self.fields["to_state"] = forms.ChoiceField(
                choices=[(t, State(t).label) for t in targets], label="leads to"
            )
        for name in move.required:
            self.fields[name] = _detail_field(kind, name, True, asset)
        for name in move.optional:
            if name == "recovered_g":
                self.fields.update(_metal_fields())
            else:
                self.fields[name] = _detail_field(kind, name, False, asset)
        self.detail_names = (*move.required, *move.optional)

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        details = {}
        for name in self.detail_names:
            value = data.get(name)
            if name == "recovered_g":
                value = {
                    metal: str(data[f"recovered_g_{metal}"])
                    for metal in METALS
                    if data.get(f"recovered_g_{metal}") is not None
                }
            if value in (None, "", {}, []):
                continue
            if isinstance(value, Site):
                value = value.code
            elif isinstance(value, LifecycleEvent):
                value = value.pk
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            elif not isinstance(value, str | int | dict | list):
                value = str(value)
            details[name] = value
        to_state = data.get("to_state") if "to_state" not in self.detail_names else None
        return {"occurred_at": data["occurred_at"], "to_state": to_state, "details": details}


class LabelSheetForm(forms.Form):
    """Which label stock to print on, and how many labels of the first sheet are used up."""

    layout = forms.ChoiceField(
        label="Label sheet",
        choices=[(code, stock.label) for code, stock in labels.LAYOUTS.items()],
        initial=labels.DEFAULT_LAYOUT,
    )
    skip = forms.IntegerField(
        label="Labels already used on the first sheet",
        min_value=0,
        max_value=max(stock.per_sheet for stock in labels.LAYOUTS.values()) - 1,
        initial=0,
        help_text="Printing starts after these, left to right, top to bottom.",
    )
