#!/bin/sh
# Asks Greenlight to approve a release and waits for the decision: the loop
# every polling recipe shares (GitHub Actions, GitLab CI, Jenkins, any shell).
#
# Exit status: 0 approved; 1 rejected, expired or failed; 2 timed out;
# 3 refused (a bad request, a missing or wrong API key).
#
# Environment: GREENLIGHT_URL, TEAM_PROJECT, RELEASE_ID, RELEASE_NAME
# (required); GREENLIGHT_API_KEY, ENVIRONMENT (production), REQUESTED_FOR,
# TIMEOUT_SECONDS (3600), POLL_SECONDS (30).
set -u
: "${GREENLIGHT_URL:?}" "${TEAM_PROJECT:?}" "${RELEASE_ID:?}" "${RELEASE_NAME:?}"

json() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
body=$(printf '{"ReleaseName":"%s","ReleaseId":"%s","TeamProject":"%s","Environment":"%s","RequestedForEmail":"%s"}' \
  "$(json "$RELEASE_NAME")" "$(json "$RELEASE_ID")" "$(json "$TEAM_PROJECT")" \
  "$(json "${ENVIRONMENT:-production}")" "$(json "${REQUESTED_FOR:-}")")
set -- -sS -X POST "${GREENLIGHT_URL%/}/release" -H 'Content-Type: application/json' \
  -w '\n%{http_code}' --data "$body"
if [ -n "${GREENLIGHT_API_KEY:-}" ]; then set -- "$@" -H "X-API-Key: $GREENLIGHT_API_KEY"; fi
deadline=$(( $(date +%s) + ${TIMEOUT_SECONDS:-3600} ))

while :; do
  answer=$(curl "$@") || answer="$(printf '\n000')"
  code=$(printf '%s\n' "$answer" | tail -n 1)
  doc=$(printf '%s\n' "$answer" | sed '$d')
  case "$code" in
    200|202)
      status=$(printf '%s' "$doc" | sed -n 's/^{"status":"\([a-z]*\)".*/\1/p')
      case "$status" in
        approved) echo "Greenlight: release $RELEASE_ID approved"; exit 0 ;;
        rejected|expired|failed) echo "Greenlight: release $RELEASE_ID $status: $doc" >&2; exit 1 ;;
      esac ;;
    429|5??|000) ;;  # busy or down: try again
    *) echo "Greenlight refused the request (HTTP $code): $doc" >&2; exit 3 ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "Greenlight: no decision on release $RELEASE_ID in ${TIMEOUT_SECONDS:-3600} s" >&2; exit 2
  fi
  sleep "${POLL_SECONDS:-30}"
done
