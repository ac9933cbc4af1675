"""A real SMTP server on loopback (``aiosmtpd``, in its own thread) for the tests that send
e-mail: the outbox's deliveries and the sign-up codes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


@dataclass
class SmtpInbox:
    """Accepts every message, except for recipients at ``refused.example``."""

    messages: list[Envelope] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802  (the name aiosmtpd calls)
        self, server: Any, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802  (the name aiosmtpd calls)
        self, server: Any, session: Any, envelope: Envelope
    ) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"

    def mails(self) -> list[tuple[str, str, str]]:
        """``(recipient, subject, text)`` of each message received, in order."""
        found = []
        for envelope in self.messages:
            mail = message_from_bytes(envelope.content, policy=policy.default)
            text = mail.get_content() if not mail.is_multipart() else ""  # type: ignore[attr-defined]
            found.append((envelope.rcpt_tos[0], str(mail["Subject"]), text.strip()))
        return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_inbox() -> Iterator[tuple[SmtpInbox, int]]:
    """An :class:`SmtpInbox` listening on 127.0.0.1 and its port, for the ``with`` block."""
    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()
