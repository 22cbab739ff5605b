#!/usr/bin/env bash
# Usage: scripts/lib/install-deps.sh
# Installs the system libraries mcdropout builds against (OpenBLAS, libmicrohttpd, the gRPC C core, zlib, pkg-config)
# with apt when any is missing. Does nothing when they are present.
set -euo pipefail
. "$(dirname "$0")/apt.sh"
apt_install --no-install-recommends libopenblas-dev libmicrohttpd-dev libgrpc-dev zlib1g-dev pkg-config
