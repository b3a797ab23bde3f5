#!/usr/bin/env bash
# End-to-end test of the browser page (GET /): the real server, bin/ganhost, serves a copy of the
# shipped model with a token set, and e2e/page.test.mjs drives the page in headless Debian
# chromium through playwright-core. The test takes a screenshot into docs/screenshot.png.
#
# Installs what is missing: chromium (apt, only when /usr/bin/chromium is absent) and
# playwright-core (npm ci in e2e/; Playwright's own browsers are never downloaded).
# Environment: CHROMIUM (default /usr/bin/chromium), E2E_SCREENSHOT (default docs/screenshot.png).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export E2E_SCREENSHOT=${E2E_SCREENSHOT:-$root/docs/screenshot.png}

log() { echo "e2e: $*" >&2; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- what the test needs ---
if [ ! -x "$CHROMIUM" ]; then
  [ "$CHROMIUM" = /usr/bin/chromium ] || { log "CHROMIUM=$CHROMIUM is not an executable"; exit 1; }
  log "installing chromium with apt"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -f e2e/node_modules/playwright-core/package.json ] ||
  [ e2e/package-lock.json -nt e2e/node_modules/.package-lock.json ]; then
  log "installing playwright-core (npm ci)"
  (cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
[ -f .venv/.installed ] || make venv
[ -f data/mnist/manifest.json ] || make data
# bin/ganhost embeds the page, so any Go source or page file newer than it means a rebuild.
if [ ! -x bin/ganhost ] || [ -n "$(find go go.mod go.sum -type f -newer bin/ganhost ! -name '*_test.go' -print -quit)" ]; then
  log "building bin/ganhost"
  scripts/tfenv.sh go build -o bin/ganhost ./go/cmd/ganhost
fi

# --- the server: a copy of the shipped model on a free loopback port ---
tmp=$(mktemp -d -t ganhost-e2e.XXXXXX)
server_pid= test_pid=
# stop PID [-GROUP]: SIGTERM, up to 30 s to exit, then SIGKILL.
stop() {
  local pid=$1 target=${2:-$1}
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "$target" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
  kill -KILL -- "$target" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  # The test first (timeout leads its own process group; Playwright closes chromium on
  # SIGTERM), then the server, which saves its unsaved steps into $tmp on the way out.
  [ -z "$test_pid" ] || stop "$test_pid" "-$test_pid"
  [ -z "$server_pid" ] || stop "$server_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/gan"
cp -r savedmodel/gan/1 "$tmp/gan/1"
E2E_TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
export E2E_TOKEN
GANHOST_TOKEN=$E2E_TOKEN bin/ganhost serve -addr 127.0.0.1:0 -model-base "$tmp/gan" -data data/mnist \
  2>"$tmp/server.log" &
server_pid=$!

# The server logs {"msg":"serving","addr":"127.0.0.1:PORT",...} once it listens.
addr=
for _ in $(seq 120); do
  addr=$(grep -o '"msg":"serving","addr":"[^"]*"' "$tmp/server.log" | sed 's/.*"addr":"//; s/"$//') || true
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$addr" ] || ! curl -fsS --max-time 10 "http://$addr/readyz" >/dev/null; then
  log "the server did not start; its log:"
  grep -v '^I0000\|I tensorflow' "$tmp/server.log" | tail -20 >&2
  exit 1
fi
log "server on http://$addr (model copy in $tmp/gan)"

# --- the browser test ---
# In the background, so that an interrupt runs the traps at once rather than after the test.
mkdir "$tmp/chromium-profile"
E2E_URL="http://$addr" E2E_USER_DATA_DIR="$tmp/chromium-profile" \
  timeout 600 node --test --test-reporter=spec e2e/page.test.mjs &
test_pid=$!
status=0
wait "$test_pid" || status=$?
test_pid=
if [ "$status" -ne 0 ]; then
  log "failed ($status); the server log's last lines:"
  grep -v '^I0000\|I tensorflow' "$tmp/server.log" | tail -20 >&2
fi
exit "$status"
