"""The account forms: what each page asks for and the shape checks next to each field.

Shape checks (present, short enough to store, a well-formed email, passwords that match),
plus the services' password rules called early so every field's problem shows at once. The
rules live in services; what needs the database (a taken email) comes back from the service
as an exception the view puts next to the right field.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from marketplace.auth.services import (
    MAX_PASSWORD_LENGTH,
    InvalidEmail,
    WeakPassword,
    check_password_strength,
    normalise_email,
)


def _well_formed_email(form: FlaskForm, field: EmailField) -> None:
    try:
        normalise_email(field.data or "")
    except InvalidEmail as error:
        raise ValidationError(error.message) from error


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


_required = DataRequired(message=_l("This field is required."))


class RegisterForm(FlaskForm):
    name = StringField(
        _l("Your name"), filters=[_strip], validators=[_required, Length(max=120)]
    )
    email = EmailField(
        _l("Email"), filters=[_strip], validators=[_required, Length(max=254), _well_formed_email]
    )
    password = PasswordField(
        _l("Password"), validators=[_required, Length(max=MAX_PASSWORD_LENGTH)]
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[_required, EqualTo("password", message=_l("The passwords don't match."))],
    )

    def validate_password(self, field: PasswordField) -> None:
        # The service checks again; checking here too shows every field's problem at once.
        try:
            check_password_strength(field.data or "", self.email.data or "")
        except WeakPassword as error:
            raise ValidationError(error.message) from error


class LoginForm(FlaskForm):
    # No format check on login: a malformed email is just one more wrong login, answered
    # with the same generic message and counted by the throttle.
    email = EmailField(_l("Email"), filters=[_strip], validators=[_required, Length(max=254)])
    password = PasswordField(
        _l("Password"), validators=[_required, Length(max=MAX_PASSWORD_LENGTH)]
    )
    remember = BooleanField(_l("Keep me logged in on this device"))
    next = HiddenField()


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("Email"), filters=[_strip], validators=[_required, Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"), validators=[_required, Length(max=MAX_PASSWORD_LENGTH)]
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[_required, EqualTo("password", message=_l("The passwords don't match."))],
    )
