"""The portal's forms: shape checks next to each field, CSRF on every one.

The rules (ownership, stock, roles, last owner) live in the services, which raise exceptions
naming the field at fault; the views put those messages next to the same fields here, so the
field names match the services' (and the API's) names.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from vendors.access import ROLE_LABELS, SCOPE_LABELS, SCOPES
from vendors.countries import country_choices
from vendors.errors import VendorError
from vendors.inventory import (
    MAX_ADDRESS,
    MAX_ADJUSTMENT,
    MAX_LOCATION_NAME,
    MAX_NOTE,
    MAX_PRIORITY,
    MAX_THRESHOLD,
)
from vendors.models import MemberRole, MovementReason
from vendors.onboarding import MAX_DESCRIPTION, MAX_NAME, MAX_VACATION_MESSAGE


def _choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class _Range(NumberRange):
    """NumberRange that stays quiet when the value didn't even parse as a number (the field
    already says "Not a valid integer value." then)."""

    def __call__(self, form, field):
        if field.data is None:
            return
        super().__call__(form, field)


_required = DataRequired(message=_l("This field is required."))
_present = InputRequired(message=_l("This field is required."))

MOVEMENT_REASON_LABELS = {
    MovementReason.RECEIVED: _l("Received"),
    MovementReason.DAMAGED: _l("Damaged"),
    MovementReason.COUNT_CORRECTION: _l("Count correction"),
}
# In the adjustment form, each reason also says what the quantity means.
_REASON_CHOICES = {
    MovementReason.RECEIVED: _l("Received: add the quantity"),
    MovementReason.DAMAGED: _l("Damaged: remove the quantity"),
    MovementReason.COUNT_CORRECTION: _l("Count correction: the quantity is what you counted"),
}


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class _ContactFields:
    contact_name = StringField(_l("Contact person"), filters=[_strip],
                               validators=[_required, Length(max=MAX_NAME)])
    contact_email = EmailField(_l("Contact email"), filters=[_strip],
                               validators=[_required, Length(max=254)])
    contact_phone = StringField(_l("Phone (optional)"), filters=[_strip],
                                validators=[Optional(), Length(max=40)])
    description = TextAreaField(_l("About the shop"), filters=[_strip],
                                validators=[Length(max=MAX_DESCRIPTION)])
    logo = FileField(_l("Logo (PNG, JPEG, GIF or WebP, at most 2 MB)"))


class ApplicationForm(_ContactFields, FlaskForm):
    name = StringField(_l("Business name"), filters=[_strip],
                       validators=[_required, Length(min=2, max=MAX_NAME)])
    country = SelectField(_l("Country of registration"), validators=[_required])
    default_currency = SelectField(_l("Currency of your prices"), validators=[_required])
    payout_currency = SelectField(_l("Currency you are paid in"), validators=[_required])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = _choices([("", _l("Choose a country")), *country_choices()])
        currencies = _choices((c, c) for c in current_app.config["CURRENCIES"])
        self.default_currency.choices = currencies
        self.payout_currency.choices = currencies


class ProfileForm(_ContactFields, FlaskForm):
    remove_logo = BooleanField(_l("Remove the current logo"))


class VacationForm(FlaskForm):
    on_vacation = BooleanField(_l("The shop is on vacation"))
    message = TextAreaField(_l("Message for buyers (optional)"), filters=[_strip],
                            validators=[Length(max=MAX_VACATION_MESSAGE)])


class PayoutCurrencyForm(FlaskForm):
    payout_currency = SelectField(_l("Currency you are paid in"), validators=[_required])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.payout_currency.choices = _choices(
            (c, c) for c in current_app.config["CURRENCIES"])


def _role_choices() -> list[SelectChoice]:
    return _choices((role.value, ROLE_LABELS[role]) for role in MemberRole)


class InviteForm(FlaskForm):
    email = EmailField(_l("Email"), filters=[_strip], validators=[_required, Length(max=254)])
    role = SelectField(_l("Role"), validators=[_required], default=MemberRole.STAFF.value)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = _role_choices()


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), validators=[_required])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = _role_choices()


class LocationForm(FlaskForm):
    name = StringField(_l("Name"), filters=[_strip],
                       validators=[_required, Length(max=MAX_LOCATION_NAME)])
    country = SelectField(_l("Country"), validators=[_required])
    address = TextAreaField(_l("Address"), filters=[_strip], validators=[Length(max=MAX_ADDRESS)])
    priority = IntegerField(
        _l("Priority (lower is used first)"), default=0,
        validators=[_present, _Range(min=0, max=MAX_PRIORITY,
                                          message=_l("Use a whole number from 0 to 1000."))],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = _choices([("", _l("Choose a country")), *country_choices()])


class AdjustmentForm(FlaskForm):
    location_id = SelectField(_l("Location"), coerce=int, validators=[_required])
    reason = SelectField(
        _l("Reason"), validators=[_required],
        choices=_choices((reason.value, label) for reason, label in _REASON_CHOICES.items()),
    )
    quantity = IntegerField(
        _l("Quantity"),
        validators=[_present, _Range(min=0, max=MAX_ADJUSTMENT,
                                          message=_l("Enter a whole number from 0 to "
                                                     "1,000,000."))],
    )
    note = StringField(_l("Note (optional)"), filters=[_strip],
                       validators=[Length(max=MAX_NOTE)])

    def __init__(self, locations, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.location_id.choices = _choices((location.id, location.name)
                                            for location in locations)


class ThresholdForm(FlaskForm):
    threshold = IntegerField(
        _l("Low-stock threshold"),
        validators=[Optional(), _Range(min=0, max=MAX_THRESHOLD,
                                            message=_l("Use a whole number from 0 to "
                                                       "1,000,000."))],
    )


class DefaultThresholdForm(FlaskForm):
    threshold = IntegerField(
        _l("Default low-stock threshold"),
        validators=[_present, _Range(min=0, max=MAX_THRESHOLD,
                                          message=_l("Use a whole number from 0 to "
                                                     "1,000,000."))],
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), filters=[_strip], validators=[_required, Length(max=80)])
    scopes = MultiCheckboxField(
        _l("Scopes"), validators=[DataRequired(message=_l("Choose at least one scope."))],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scopes.choices = _choices((scope, SCOPE_LABELS[scope]) for scope in SCOPES)


class SwitchVendorForm(FlaskForm):
    vendor_id = IntegerField(validators=[_present])


def show_error(form: FlaskForm, error: VendorError) -> bool:
    """Put a service's error next to the form field it names; False when the form has no
    such field (the caller shows the message elsewhere, e.g. as a flash)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is None or not hasattr(field, "errors"):
        return False
    field.errors = [*field.errors, error.message]
    return True
