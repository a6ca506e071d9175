#!/usr/bin/env bash
# Install Neovim (Debian's package, 0.7.x) for the headless-Neovim LSP test
# (tests/editor/test_neovim.py). Idempotent: does nothing when `nvim` is already on PATH.
#
#   scripts/setup-neovim.sh          install if missing (apt-get, as root or through sudo)
#   scripts/setup-neovim.sh --check  only say whether it is there (exit 1 when not)
#
# Exit status: 0 nvim is ready, 1 it is missing and could not be installed (the message says why).
set -euo pipefail

say() { printf 'setup-neovim: %s\n' "$*" >&2; }

if command -v nvim >/dev/null 2>&1; then
  exit 0
fi
if [[ ${1:-} == --check ]]; then
  say "nvim is not installed (run scripts/setup-neovim.sh)"
  exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  say "error: nvim is missing and installing it needs root: run 'apt-get install neovim' as root"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
say "installing Debian's neovim with apt-get"
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends neovim >&2; then
  "${sudo[@]}" apt-get update -q >&2 || true
  "${sudo[@]}" apt-get install -y -q --no-install-recommends neovim >&2 \
    || { say "error: apt-get install neovim failed (no access to Debian's archive?)"; exit 1; }
fi
command -v nvim >/dev/null 2>&1 || { say "error: neovim installed but nvim is not on PATH"; exit 1; }
say "$(nvim --version | head -n1)"
