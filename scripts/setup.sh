#!/usr/bin/env bash
# Installs the Debian 12 packages mlasim needs, only those that are missing.
# Idempotent and silent when everything is present. Works as root or through sudo.
set -euo pipefail

# -h/--help: the comment block above is the usage. The script takes no arguments.
case "${1:-}" in
  -h|--help) echo "usage: $0 (no arguments)"; sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
  "") ;;
  *) echo "setup: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

packages=(cmake make g++ pkg-config libsystemc-dev libboost-graph-dev libfmt-dev googletest
  libgtest-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev python3 python3-matplotlib)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing missing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo_cmd=(sudo -n)
elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then
  sudo_cmd=(sudo)
else
  echo "setup: need root to install: ${missing[*]}" >&2
  echo "setup: run as root, or run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >/dev/null
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done" >&2
