"""The demo's text messages and e-mails: written to the server's log, so sign-up works on one
machine."""

from __future__ import annotations

import logging

import pytest

from api.outbox.channels import CONSOLE, EMAIL, SMS, Console, HttpSmsGateway, SmtpMailer, transports
from api.outbox.dispatch import Outgoing
from api.outbox.settings import OutboxSettings


def test_console_sms_writes_the_message_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    transport = transports(OutboxSettings(sms_gateway_url=CONSOLE))[SMS]
    assert isinstance(transport, Console)
    message = Outgoing(
        delivery_id=0,
        message_id="otp-1",
        channel=SMS,
        destination="+86 139 0000 0001",
        content_type="text/plain",
        body="Your Vigil code is 123456",
    )
    with caplog.at_level(logging.WARNING, logger="vigil.sms"):
        transport.send(message)
    assert "+86 139 0000 0001: Your Vigil code is 123456" in caplog.text


def test_a_gateway_url_still_means_the_http_gateway() -> None:
    configured = transports(OutboxSettings(sms_gateway_url="http://127.0.0.1:9/sms"))
    assert isinstance(configured[SMS], HttpSmsGateway)
    assert SMS not in transports(OutboxSettings(sms_gateway_url=None))


def test_console_email_writes_the_message_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    transport = transports(OutboxSettings(smtp_host=CONSOLE))[EMAIL]
    assert isinstance(transport, Console)
    message = Outgoing(
        delivery_id=0,
        message_id="otp-2",
        channel=EMAIL,
        destination="ra@maker.example",
        content_type="text/plain",
        body="Your Vigil code is 654321",
    )
    with caplog.at_level(logging.WARNING, logger="vigil.email"):
        transport.send(message)
    assert "ra@maker.example: Your Vigil code is 654321" in caplog.text
    assert isinstance(transports(OutboxSettings(smtp_host="127.0.0.1"))[EMAIL], SmtpMailer)
