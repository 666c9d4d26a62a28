#!/bin/sh
# Installs what the Python plugin package (python/plexus) needs, if it is
# missing: Debian's CPython 3 at /usr/bin/python3, its MessagePack package
# (python3-msgpack), libatomic (libatomic1, for the segment's atomic
# operations) and numpy (python3-numpy, for demos/pyfilter). Idempotent: installs nothing when everything is there.
set -eu

have() {
	[ -x /usr/bin/python3 ] &&
		/usr/bin/python3 -c 'import msgpack, numpy, ctypes; ctypes.CDLL("libatomic.so.1")' >/dev/null 2>&1
}

if have; then
	exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "python/install-deps.sh: run as root (apt-get install python3 python3-msgpack python3-numpy libatomic1)" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
pkgs="python3 python3-msgpack python3-numpy libatomic1"
if ! $SUDO apt-get install -y -q $pkgs >/dev/null 2>&1; then
	$SUDO apt-get update -q >/dev/null
	$SUDO apt-get install -y -q $pkgs >/dev/null
fi

if ! have; then
	echo "python/install-deps.sh: /usr/bin/python3 still cannot import msgpack or numpy, or load libatomic" >&2
	exit 1
fi
