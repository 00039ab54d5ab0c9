"""``flask marketplace create-admin``: the first admin of a fresh install, or a promotion."""

from __future__ import annotations

import click
from flask import current_app
from flask_babel import force_locale

from marketplace.auth import services
from marketplace.cli import marketplace_cli
from marketplace.extensions import db
from marketplace.models import Role


@marketplace_cli.command("create-admin")
@click.option("--email", required=True, help="The admin's email address.")
@click.option("--name", required=True, help="The admin's display name.")
@click.option(
    "--password",
    default=None,
    help="The new account's password. Prompted for (hidden, twice) when left out, which "
    "keeps it out of the shell history.",
)
@click.option(
    "--promote",
    is_flag=True,
    help="If an account with this email exists, make it an admin (its password is kept).",
)
def create_admin(email: str, name: str, password: str | None, promote: bool) -> None:
    """Create an admin account, or promote an existing account with --promote."""
    # A command has no visitor whose language to pick: messages in the default language.
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        _create_admin(email, name, password, promote)


def _create_admin(email: str, name: str, password: str | None, promote: bool) -> None:
    try:
        email = services.normalise_email(email)
    except services.InvalidEmail as error:
        raise click.ClickException(f"{error.message} ({email!r})") from error
    if not name.strip():
        raise click.ClickException("The name can't be empty.")

    existing = services.find_user_by_email(email)
    if existing is not None:
        if not promote:
            raise click.ClickException(
                f"An account with the email {email} already exists. "
                "Run again with --promote to make it an admin."
            )
        if existing.is_admin:
            click.echo(f"{email} is already an admin; nothing changed.")
            return
        services.make_admin(existing)
        db.session.commit()
        if password is not None:
            click.echo("Note: --password was ignored; a promoted account keeps its password.")
        click.echo(f"{email} is now an admin.")
        return

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        services.register_user(email, name, password, role=Role.ADMIN)
    except services.AuthError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    db.session.commit()
    click.echo(f"Created the admin account {email}.")
