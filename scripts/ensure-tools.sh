#!/usr/bin/env bash
# What the test suite needs beyond npm packages: Debian's chromium for the dossier
# page's browser test (test/local/browser.test.ts). Installed with apt when missing,
# as root or through passwordless sudo; otherwise the fix is printed and the run stops.
# Runs before `npm test` (pretest) and from .ci/run, so a fresh clone needs nothing else.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
echo "== chromium is missing (the dossier page's browser test): installing Debian's package"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "Install it first: sudo apt-get install chromium" >&2
    exit 1
  fi
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
