#!/bin/sh
# Checks a Greenlight webhook (Standard Webhooks) with openssl. Usage, with
# the secret (whsec_...) in WEBHOOK_SECRET:
#   sh verify-webhook.sh "<webhook-id>" "<webhook-timestamp>" "<webhook-signature>" body.json
set -euf
id=$1 ts=$2 signatures=$3 body=$4
case $ts in '' | *[!0-9]*) echo "invalid signature" >&2; exit 1 ;; esac
# The key is the base64 after whsec_: binary, so handed to openssl in hex.
key=$(printf '%s' "${WEBHOOK_SECRET#whsec_}" | openssl base64 -d -A | od -An -v -tx1 | tr -d ' \n')
expected=$({ printf '%s.%s.' "$id" "$ts"; cat "$body"; } |
  openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | openssl base64 -A)
age=$(( $(date +%s) - ts ))
valid=
# During a rotation the header holds two signatures; one must match.
for signature in $signatures; do
  [ "$signature" = "v1,$expected" ] && valid=1
done
if [ -z "$valid" ] || [ "$age" -gt 300 ] || [ "$age" -lt -300 ]; then
  echo "invalid signature" >&2; exit 1
fi
echo valid
