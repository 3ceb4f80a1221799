from standardwebhooks.webhooks import Webhook


def verify(secret: str, headers: dict, body: bytes) -> None:
    """Raises WebhookVerificationError unless the delivery is genuine and recent."""
    Webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()})
