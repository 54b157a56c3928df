#!/usr/bin/env bash
# What the test suite needs beyond npm packages: Debian's chromium for the dossier
# page's browser test (test/local/browser.test.ts), and Debian's redis-server (with
# redis-cli) for the shared replay store's tests (test/integrations/redis.test.ts),
# which start their own server on a free port. Installed with apt when missing,
# as root or through passwordless sudo; otherwise the fix is printed and the run stops.
# Runs before `npm test` (pretest) and from .ci/run, so a fresh clone needs nothing else.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "== ${missing[*]} missing (the dossier page's browser test, the Redis replay store's tests): installing Debian's packages"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "Install them first: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
