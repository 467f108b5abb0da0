#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (test/e2e), unless it is already there.
# Playwright never downloads a browser here: the tests launch /usr/bin/chromium.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
