"""Console forms: parse and validate input; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from lifeline.cases.models import MobilisationStatus, PhoneSituation, RequesterRelation
from lifeline.core.channels import Language
from lifeline.core.models import Role

DATE_FORMATS = ["%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y"]


class TokenForm(forms.Form):
    otp_token = forms.RegexField(
        label=_("Six-digit code"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": _("Enter the six digits shown by your authenticator app.")},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "size": 8,
            }
        ),
    )

    def clean_otp_token(self) -> str:
        return str(self.cleaned_data["otp_token"]).strip()


class CaseCreateForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=200, required=False)
    birth_date = forms.DateField(
        label=_("Date of birth"),
        required=False,
        input_formats=DATE_FORMATS,
        help_text=_("Like 12.03.1995"),
    )
    service_number = forms.CharField(label=_("Service number"), max_length=64, required=False)
    rank = forms.CharField(label=_("Rank"), max_length=100, required=False)
    unit = forms.CharField(label=_("Unit"), max_length=200, required=False)
    location = forms.CharField(label=_("Where he is now"), max_length=300, required=False)
    mobilisation_status = forms.ChoiceField(
        label=_("Mobilisation status"), choices=MobilisationStatus.choices
    )
    group_size = forms.IntegerField(label=_("Group size"), min_value=1, max_value=500, initial=1)
    phone_situation = forms.ChoiceField(label=_("Phone"), choices=PhoneSituation.choices)
    requester_relation = forms.ChoiceField(
        label=_("Who is asking"), choices=RequesterRelation.choices
    )
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            not (data.get("full_name") or "").strip()
            and not (data.get("service_number") or "").strip()
        ):
            raise forms.ValidationError(
                _("An application needs at least the full name or the service number.")
            )
        return data


class StaffCreateForm(forms.Form):
    """No password: the new person sets his own through a one-time enrolment link."""

    username = forms.CharField(label=_("Username"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class EnrolCodeForm(forms.Form):
    token = forms.CharField(
        label=_("Enrolment code"),
        max_length=100,
        help_text=_("Opening your enrolment link fills this in."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "id": "enrol-token", "size": 50}),
    )


class StaffRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class ExchangeForm(forms.Form):
    """An exchange as announced: no personal data."""

    date = forms.DateField(
        label=_("Date"), input_formats=DATE_FORMATS, help_text=_("Like 12.03.2026")
    )
    place = forms.CharField(label=_("Place, if known"), max_length=120, required=False)
    released_by_ukraine = forms.IntegerField(
        label=_("Released by Ukraine"), min_value=0, max_value=100_000
    )
    released_by_russia = forms.IntegerField(
        label=_("Released by Russia"), min_value=0, max_value=100_000
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class CannedAnswerForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    title = forms.CharField(label=_("Title"), max_length=80)
    text = forms.CharField(
        label=_("Text"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )
    position = forms.IntegerField(
        label=_("Order"),
        min_value=0,
        max_value=999,
        initial=0,
        required=False,
        help_text=_("Smaller numbers come first."),
    )


class ChannelPostForm(forms.Form):
    """A channel post's proposal; the broadcast service checks the texts against the channels."""

    text_ru = forms.CharField(
        label=_("Text in Russian"),
        max_length=4096,
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "lang": "ru"}),
    )
    text_uk = forms.CharField(
        label=_("Text in Ukrainian"),
        max_length=4096,
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "lang": "uk"}),
    )
    text_en = forms.CharField(
        label=_("Text in English"),
        max_length=4096,
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "lang": "en"}),
    )
    image = forms.FileField(
        label=_("Picture (optional)"),
        required=False,
        help_text=_("JPEG, PNG or WebP. It is re-encoded: nothing but the pixels is sent."),
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )
    remove_image = forms.BooleanField(label=_("Remove the picture"), required=False)
    publish_at = forms.DateTimeField(
        label=_("Publish at (UTC; empty: as soon as approved)"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def texts(self) -> dict[str, str]:
        return {lang: self.cleaned_data.get(f"text_{lang}") or "" for lang in Language.values}

    def image_bytes(self, limit: int) -> bytes | None:
        upload = self.cleaned_data.get("image")
        if not upload:
            return None
        if upload.size > limit:
            raise ValueError(_("The picture is too large."))
        return bytes(upload.read())
