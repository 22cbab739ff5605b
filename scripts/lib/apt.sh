# Sourced: apt_install [--no-install-recommends] PACKAGE... installs the named Debian packages that dpkg does not
# list as installed, with sudo when not root; does nothing (and needs no network) when all are there. `apt-get update`
# runs once per script tree: the first install exports MCDROPOUT_APT_UPDATED, so scripts it starts skip it.
# All output goes to stderr, so callers may use stdout for results.
apt_install() {
    local options=() missing=() package sudo=""
    if [ "${1:-}" = --no-install-recommends ]; then options+=("$1"); shift; fi
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing missing Debian packages: ${missing[*]}" >&2
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if [ -z "${MCDROPOUT_APT_UPDATED:-}" ]; then
        $sudo apt-get update -q >&2
        export MCDROPOUT_APT_UPDATED=1
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${options[@]}" "${missing[@]}" >&2
}
