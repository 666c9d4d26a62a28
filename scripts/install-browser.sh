#!/usr/bin/env bash
# Installs what the browser tests (browser/) need: Debian's chromium
# package, unless a Chromium is there already (or PLEXUS_CHROMIUM names
# one). Idempotent; needs root (or sudo) and the Debian mirror.
set -euo pipefail
if [ -n "${PLEXUS_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
	exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "installing Debian's chromium package for the browser tests"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null ||
	{ $sudo apt-get update >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
chromium --version
