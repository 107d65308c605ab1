#!/usr/bin/env python3
"""Checks a Greenlight webhook (Standard Webhooks). Usage, with the secret
(whsec_...) in WEBHOOK_SECRET:
  python3 verify-webhook.py "<webhook-id>" "<webhook-timestamp>" "<webhook-signature>" body.json
With the standardwebhooks library installed (pip install standardwebhooks)
it checks with that; otherwise with the same rules written out below."""
import base64, hashlib, hmac, os, sys, time

msg_id, timestamp, signatures, path = sys.argv[1:5]
body = open(path, "rb").read()  # the raw body, before any JSON parsing
secret = os.environ["WEBHOOK_SECRET"]


def verify_stdlib():
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False  # a replay, or a clock five minutes off
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    # During a rotation the header holds two signatures; one must match.
    return any(
        hmac.compare_digest(expected, sig[3:].encode())
        for sig in signatures.split(" ")
        if sig.startswith("v1,")
    )


try:
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError
except ImportError:
    checker, valid = "stdlib", verify_stdlib()
else:
    headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signatures}
    try:
        Webhook(secret).verify(body, headers)
        checker, valid = "standardwebhooks", True
    except WebhookVerificationError:
        checker, valid = "standardwebhooks", False
if not valid:
    sys.exit(f"invalid signature ({checker})")
print(f"valid ({checker})")
