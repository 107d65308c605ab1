#!/usr/bin/env python3
"""Checks a Greenlight webhook. Usage, with the secret in WEBHOOK_SECRET:
python3 verify-webhook.py "<Greenlight-Signature header>" body.json"""
import hashlib, hmac, os, sys, time

header, body = sys.argv[1], open(sys.argv[2], "rb").read()
fields = dict(part.split("=", 1) for part in header.split(","))
signed = fields["t"].encode() + b"." + body
expected = hmac.new(os.environ["WEBHOOK_SECRET"].encode(), signed, hashlib.sha256).hexdigest()
if not hmac.compare_digest(expected, fields["v1"]) or abs(time.time() - int(fields["t"])) > 300:
    sys.exit("invalid signature")
print("valid")
