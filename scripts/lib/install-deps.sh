#!/usr/bin/env bash
# Usage: scripts/lib/install-deps.sh
# Installs the system libraries mcdropout builds against (OpenBLAS, libmicrohttpd, zlib, pkg-config) with apt when
# any is missing. Does nothing when they are present.
set -euo pipefail

packages=(libopenblas-dev libmicrohttpd-dev zlib1g-dev pkg-config)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing missing system packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
