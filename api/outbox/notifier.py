"""Short texts sent at once (not queued) through the outbox's SMS and e-mail transports.

One-time codes (``api.security.otp``) go out while the patient waits and are useless a few
minutes later, so they skip the outbox's queue and retries but use its gateways.
"""

from __future__ import annotations

import secrets

from api.outbox.dispatch import DeliveryError, Outgoing, Transport

# One-time codes and sign-up notices are no result: they must not say "your result".
NOTICE_SUBJECT = "A message from Vigil"


class NotifierUnavailableError(RuntimeError):
    """No gateway is configured for the channel, or it refused the text."""


def default_notifier() -> TransportNotifier:
    """The gateways the outbox is configured with (``OUTBOX_SMS_GATEWAY_URL``, SMTP)."""
    from api.outbox.channels import transports
    from api.outbox.settings import OutboxSettings

    return TransportNotifier(transports(OutboxSettings()))


class TransportNotifier:
    """``send(channel, address, text)`` over the outbox transports (``channels.transports``)."""

    def __init__(self, transports: dict[str, Transport]) -> None:
        self.transports = transports

    def send(self, channel: str, address: str, text: str) -> None:
        transport = self.transports.get(channel)
        if transport is None:
            raise NotifierUnavailableError(f"no {channel} gateway is configured")
        outgoing = Outgoing(
            delivery_id=0,
            message_id=f"otp-{secrets.token_hex(8)}",
            channel=channel,
            destination=address,
            content_type="text/plain",
            body=text,
            subject=NOTICE_SUBJECT,
        )
        try:
            transport.send(outgoing)
        except DeliveryError as exc:
            raise NotifierUnavailableError(f"the {channel} gateway refused the text") from exc
