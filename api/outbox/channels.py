"""The channels deliveries go out on: webhooks, an SMS gateway over HTTP, e-mail over SMTP."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import parseaddr

import httpx

from api.outbox.dispatch import DeliveryError, Outgoing, Transport
from api.outbox.service import WEBHOOK
from api.outbox.settings import OutboxSettings
from api.outbox.webhooks import WebhookTransport

SMS = "sms"
EMAIL = "email"
SUBJECT = "Your self-test result"

# A gateway that refuses the request itself (bad number, bad body) will refuse it again.
_PERMANENT_HTTP = {400, 404, 413, 422}
# ``OUTBOX_SMS_GATEWAY_URL=console:`` (``OUTBOX_SMTP_HOST=console:``): text messages (e-mails)
# are written to the server's log instead of sent (``vigil serve --demo`` sets both, so
# sign-ups and one-time codes work on one machine).
CONSOLE = "console:"


class HttpSmsGateway:
    """A generic SMS provider: ``POST <url>`` with JSON ``{"to", "text", "reference"}``.

    ``Authorization: Bearer <token>``, and ``Idempotency-Key`` set to the message id so a
    gateway that supports it sends a retried message once. Any 2xx is accepted.
    """

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        self.headers = {"authorization": f"Bearer {token}"} if token else {}

    def send(self, outgoing: Outgoing) -> None:
        payload = {
            "to": outgoing.destination,
            "text": outgoing.body,
            "reference": outgoing.message_id,
        }
        headers = {**self.headers, "idempotency-key": outgoing.message_id}
        try:
            response = self.client.post(self.url, json=payload, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryError(f"SMS gateway: {type(error).__name__}") from None
        if not response.is_success:
            raise DeliveryError(
                f"SMS gateway: HTTP {response.status_code}",
                retryable=response.status_code not in _PERMANENT_HTTP,
            )


class Console:
    """Text messages or e-mails written to the log, for a demo on one machine: never for
    real people."""

    def __init__(self, channel: str) -> None:
        self.log = logging.getLogger(f"vigil.{channel}")

    def send(self, outgoing: Outgoing) -> None:
        self.log.warning("%s to %s: %s", outgoing.channel, outgoing.destination, outgoing.body)


class SmtpMailer:
    """Plain-text e-mail over SMTP (``smtplib``), one connection per message.

    The Message-ID is derived from the outbox message id, so a retried e-mail is
    recognisably the same one.
    """

    def __init__(self, config: OutboxSettings) -> None:
        assert config.smtp_host is not None
        self.config = config
        self.host = config.smtp_host
        self.domain = parseaddr(config.smtp_from)[1].rpartition("@")[2] or "vigil.invalid"

    def send(self, outgoing: Outgoing) -> None:
        config = self.config
        mail = EmailMessage()
        mail["From"] = config.smtp_from
        mail["To"] = outgoing.destination
        mail["Subject"] = outgoing.subject or SUBJECT
        mail["Message-ID"] = f"<{outgoing.message_id}@{self.domain}>"
        mail.set_content(outgoing.body)
        try:
            with smtplib.SMTP(self.host, config.smtp_port, timeout=config.timeout_seconds) as smtp:
                if config.smtp_starttls:
                    smtp.starttls()
                if config.smtp_username and config.smtp_password:
                    smtp.login(config.smtp_username, config.smtp_password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("SMTP: recipient refused", retryable=False) from None
        except smtplib.SMTPResponseException as error:
            # 5xx is the server's final word; 4xx asks to try again later.
            raise DeliveryError(
                f"SMTP {error.smtp_code}", retryable=error.smtp_code < 500
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"SMTP: {type(error).__name__}") from None


def transports(config: OutboxSettings) -> dict[str, Transport]:
    """Webhooks always; SMS and e-mail when a gateway URL or SMTP host is configured."""
    transports: dict[str, Transport] = {WEBHOOK: WebhookTransport(config)}
    if config.sms_gateway_url == CONSOLE:
        transports[SMS] = Console(SMS)
    elif config.sms_gateway_url:
        transports[SMS] = HttpSmsGateway(
            config.sms_gateway_url, config.sms_gateway_token, config.timeout_seconds
        )
    if config.smtp_host == CONSOLE:
        transports[EMAIL] = Console(EMAIL)
    elif config.smtp_host:
        transports[EMAIL] = SmtpMailer(config)
    return transports
