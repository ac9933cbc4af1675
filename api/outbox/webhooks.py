"""The webhook transport: one signed HTTP POST per attempt, with httpx."""

from __future__ import annotations

from types import TracebackType

import httpx

from api.interop.signing import sign
from api.outbox.dispatch import DeliveryError, Outgoing
from api.outbox.settings import OutboxSettings


class WebhookTransport:
    """POSTs a delivery's body to its endpoint, signed as Standard Webhooks describes.

    Any 2xx is success. Everything else (another status, a redirect, a timeout, a refused
    connection) is a failure to retry: receivers being redeployed answer 404 or 503 for a
    while, and the attempts are bounded anyway.
    """

    def __init__(self, config: OutboxSettings, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(
            timeout=config.timeout_seconds,
            follow_redirects=False,
            headers={"user-agent": f"{config.sender_application} webhooks"},
        )

    def send(self, outgoing: Outgoing) -> None:
        if not outgoing.secrets:
            raise DeliveryError("the endpoint has no valid signing secret; rotate one in")
        body = outgoing.body.encode("utf-8")
        headers = {
            "content-type": outgoing.content_type,
            **sign(outgoing.message_id, body, outgoing.secrets),
        }
        try:
            response = self.client.post(outgoing.destination, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError("timed out") from None
        except httpx.HTTPError as error:
            raise DeliveryError(f"{type(error).__name__}: {error}") from None
        if not response.is_success:
            raise DeliveryError(f"HTTP {response.status_code}")

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> WebhookTransport:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
