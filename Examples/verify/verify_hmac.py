import base64, hashlib, hmac, time


def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> bool:
    h = {k.lower(): v for k, v in headers.items()}
    # GitHub's recipe: HMAC-SHA256 of the raw body, keyed with the whole secret string.
    hub = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(hub, h.get("x-hub-signature-256", "")):
        return False
    # Standard Webhooks: HMAC-SHA256 of "id.timestamp.body", keyed with the base64 part after whsec_.
    if abs(time.time() - int(h["webhook-timestamp"])) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f'{h["webhook-id"]}.{h["webhook-timestamp"]}.'.encode() + body
    mine = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(mine, s[3:]) for s in h["webhook-signature"].split() if s.startswith("v1,"))
