"""Outgoing email, always sent from a job so a slow or broken mail server never holds a request.

Settings (Flask config first, then the environment, so tests can override either way):

- ``MAIL_SERVER``: SMTP host. Unset by default, and then mail is not sent at all but written
  to the ``marketplace.mail`` log at INFO (recipient, subject and body), which is what a
  laptop demo wants: password-reset links show up in the server's log.
- ``MAIL_PORT``: SMTP port, default 25 (587 is usual with ``MAIL_USE_TLS``).
- ``MAIL_USE_TLS``: ``1``/``true`` to upgrade the connection with STARTTLS. Default off.
- ``MAIL_USERNAME`` / ``MAIL_PASSWORD``: log in when a username is set.
- ``MAIL_SENDER``: the From address (read by marketplace.config, default
  ``marketplace@localhost``).

Callers use :func:`queue_email`, which enqueues :func:`send_email` on the ``email`` queue once
their transaction commits. Delivery is at-least-once: a worker killed after the SMTP server
accepted a message but before the job was marked finished sends it again on retry.
"""

from __future__ import annotations

import logging
import os
import smtplib
from email.message import EmailMessage
from typing import Any

from flask import current_app

from marketplace.jobs import enqueue_after_commit
from marketplace.models import OutboxJob

log = logging.getLogger("marketplace.mail")

SMTP_TIMEOUT_SECONDS = 30


def _setting(name: str, default: Any = None) -> Any:
    value = current_app.config.get(name)
    if value is None or value == "":
        value = os.environ.get(name) or default
    return value


def _flag(name: str) -> bool:
    value = _setting(name, False)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def send_email(to: str, subject: str, body: str) -> None:
    """Send one plain-text email now (a job function: run it through :func:`queue_email`).

    Without ``MAIL_SERVER`` the message is logged instead of sent. Raises ``smtplib``/``OSError``
    errors when the SMTP server refuses or can't be reached, so the job fails and can be retried
    from /admin/jobs.
    """
    sender = _setting("MAIL_SENDER", "marketplace@localhost")
    server = _setting("MAIL_SERVER")
    if not server:
        log.info(
            "Email (not sent: MAIL_SERVER is unset)\nFrom: %s\nTo: %s\nSubject: %s\n\n%s",
            sender, to, subject, body,
            extra={"mail_to": to, "mail_subject": subject},
        )
        return

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)

    port = int(_setting("MAIL_PORT", 25))
    with smtplib.SMTP(server, port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if _flag("MAIL_USE_TLS"):
            smtp.starttls()
        username = _setting("MAIL_USERNAME")
        if username:
            smtp.login(username, _setting("MAIL_PASSWORD", ""))
        smtp.send_message(message)
    log.info("Email sent to %s: %s", to, subject, extra={"mail_to": to, "mail_subject": subject})


def queue_email(to: str, subject: str, body: str) -> OutboxJob:
    """Send an email once the caller's transaction commits (nothing is sent on rollback).

    ``subject`` and ``body`` must already be plain strings in the recipient's language (lazy
    translations can't travel through the queue).
    """
    return enqueue_after_commit("email", send_email, str(to), str(subject), str(body))
