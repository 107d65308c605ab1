#!/bin/sh
# Checks a Greenlight webhook. Usage, with the secret in WEBHOOK_SECRET:
#   sh verify-webhook.sh "<Greenlight-Signature header>" body.json
set -eu
t=$(printf '%s' "$1" | sed -n 's/^t=\([0-9]*\),v1=[0-9a-f]*$/\1/p')
v1=$(printf '%s' "$1" | sed -n 's/^t=[0-9]*,v1=\([0-9a-f]*\)$/\1/p')
expected=$({ printf '%s.' "$t"; cat "$2"; } | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" | sed 's/^.*= //')
age=$(( $(date +%s) - ${t:-0} ))
if [ -z "$t" ] || [ "$expected" != "$v1" ] || [ "$age" -gt 300 ] || [ "$age" -lt -300 ]; then
  echo "invalid signature" >&2; exit 1
fi
echo valid
