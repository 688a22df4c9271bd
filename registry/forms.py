"""Admin forms for the registry: the add-asset form and the record-event forms built from MOVES."""

import re

from django import forms
from django.contrib.admin.widgets import AdminDateWidget, AdminSplitDateTime
from django.db import transaction
from django.utils import timezone

from hardware.models import HardwareKind, WeeeCategory
from registry import labels, permissions, services
from registry.lifecycle import (
    HOLDS_PARTS,
    METALS,
    MOVES,
    PREVIOUS,
    SAME,
    EventKind,
    State,
)
from registry.models import Asset, LifecycleEvent, Site
from registry.words import CHOICE_LABELS, plain_words

DETAIL_LABELS = {
    "price": "price",
    "weighed_mass_kg": "weighed mass (kg)",
    "position_u": "position (U)",
    "site": "new site",
    "parent": "install in",
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
                form.add_error(target, plain_words(message))
            elif name in ("__all__", "kind"):
                form.add_error(None, plain_words(message))
            else:
                label = DETAIL_LABELS.get(name, name.replace("_", " "))
                form.add_error(None, f"{label.capitalize()}: {plain_words(message)}")


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
        widget=AdminSplitDateTime,
        required=False,
        label="purchased at",
        help_text="Leave blank: the ledger dates the purchase on the purchase date.",
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
            # Blank: the start of the purchase day at the site (`registration.new_asset`).
            "occurred_at": data.get("occurred_at"),
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
        labels = CHOICE_LABELS.get(name, {})
        # Nothing preselected (a default the operator did not choose would be recorded as fact),
        # except the WEEE category, which follows the model.
        blank = [] if name == "weee_category" else [("", "—")]
        choices = [(c, labels.get(c, c)) for c in move.choices[name]]
        field = forms.ChoiceField(choices=blank + choices, **common)
        if name == "weee_category" and asset is not None:
            field.initial = weee_default(asset)
        return field
    if name == "parent" and kind == EventKind.COMPONENT_INSTALLED:
        return forms.ModelChoiceField(possible_parents(asset), to_field_name="asset_tag", **common)
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


def weee_default(asset: Asset) -> str:
    """The category the catalogue gives the model, else by kind: servers, chassis and switches
    measure over 50 cm (4), parts do not (6)."""
    model = asset.hardware_model
    if model.weee_category:
        return model.weee_category
    big = {HardwareKind.SERVER, HardwareKind.CHASSIS, HardwareKind.SWITCH}
    return WeeeCategory.LARGE if model.kind in big else WeeeCategory.SMALL_IT


INSTALLABLE_INTO = (State.IN_STOCK, State.IN_SERVICE, State.IN_REPAIR, State.RESERVED,
                    State.AWAITING_DISPOSITION)  # fmt: skip


def possible_parents(asset: Asset, user=None):
    """Units at the asset's site that usually hold its kind of hardware (not itself, nor a unit
    installed in it)."""
    kinds = [k for k, holds in HOLDS_PARTS.items() if asset and asset.hardware_model.kind in holds]
    units = Asset.objects.filter(hardware_model__kind__in=kinds, state__in=INSTALLABLE_INTO)
    if asset is not None:
        units = units.filter(site=asset.site).exclude(pk=asset.pk).exclude(parent=asset)
    return units.select_related("hardware_model").order_by("asset_tag")


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


# --- assemblies ----------------------------------------------------------------------------------

_SPLIT_TAG = re.compile(r"[\s,;]+")


class InstallPartsForm(forms.Form):
    """Many units into one: a tag a line (typed, pasted or scanned), each with an optional slot."""

    parts = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 40, "autofocus": True}),
        help_text="One asset tag a line, typed, pasted or scanned. A slot may follow the tag "
        "(GPU-0003 2, or GPU-0003, riser 1).",
    )
    occurred_at = forms.SplitDateTimeField(
        widget=AdminSplitDateTime, initial=_now_local, label="installed at"
    )
    note = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, parent: Asset, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.parent, self.user = parent, user

    def clean_parts(self) -> list[tuple[Asset, str]]:
        lines = [
            (number, line.strip())
            for number, line in enumerate(self.cleaned_data["parts"].splitlines(), 1)
            if line.strip()
        ]
        if not lines:
            raise forms.ValidationError("Name at least one asset tag.")
        wanted = [
            (number, *(_SPLIT_TAG.split(line, maxsplit=1) + [""])[:2]) for number, line in lines
        ]
        found = {
            a.asset_tag: a
            for a in Asset.objects.filter(
                asset_tag__in=[tag for _, tag, _ in wanted]
            ).select_related("site", "hardware_model")
        }
        problems, seen, parts = [], {}, []
        for number, tag, slot in wanted:
            if tag in seen:
                problems.append(f"Line {number}: {tag} is already on line {seen[tag]}.")
                continue
            seen[tag] = number
            if tag not in found:
                problems.append(f"Line {number}: no asset is tagged {tag}.")
                continue
            parts.append((found[tag], slot.strip()))
        if problems:
            raise forms.ValidationError(problems)
        self.line_of = seen
        return parts

    def install(self) -> list[LifecycleEvent] | None:
        """Record every installation, or none and the reasons on the form."""
        data = self.cleaned_data
        try:
            return services.install_components(
                self.parent,
                data["parts"],
                occurred_at=data["occurred_at"],
                actor=self.user,
                note=data.get("note", ""),
            )
        except services.LifecycleError as exc:
            self.add_error(
                "parts",
                [
                    f"Line {self.line_of.get(tag, '?')}: {tag}: {plain_words(m)}"
                    for tag, messages in exc.message_dict.items()
                    for m in messages
                ],
            )
            return None


class RemovePartsForm(forms.Form):
    parts = forms.ModelMultipleChoiceField(
        Asset.objects.none(), widget=forms.CheckboxSelectMultiple, label="take out"
    )
    occurred_at = forms.SplitDateTimeField(
        widget=AdminSplitDateTime, initial=_now_local, label="removed at"
    )
    note = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, parent: Asset, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.parent, self.user = parent, user
        field = self.fields["parts"]
        field.queryset = parent.components.select_related("hardware_model").order_by("asset_tag")
        field.label_from_instance = lambda a: f"{a.asset_tag} · {a.hardware_model}"

    def remove(self) -> list[LifecycleEvent] | None:
        data = self.cleaned_data
        try:
            return services.remove_components(
                list(data["parts"]),
                occurred_at=data["occurred_at"],
                actor=self.user,
                note=data.get("note", ""),
            )
        except services.LifecycleError as exc:
            self.add_error(
                None,
                [f"{tag}: {plain_words(m)}" for tag, ms in exc.message_dict.items() for m in ms],
            )
            return None


def may_install(user, asset: Asset) -> bool:
    return permissions.can_record(user, EventKind.COMPONENT_INSTALLED, asset.site)


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
