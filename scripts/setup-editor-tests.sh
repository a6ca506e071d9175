#!/usr/bin/env bash
# Set up everything the VS Code extension's build, unit tests and real-editor test need.
# Idempotent; a second run only checks stamps (well under a second).
#
#   scripts/setup-editor-tests.sh            everything: system packages, the extension's
#                                            node_modules, code-server + playwright-core
#   scripts/setup-editor-tests.sh --client   only the extension's node_modules (enough for
#                                            `npm test` and the .vsix in vscode-client/)
#
# What it installs and where (see ../shared/EDITOR-TESTING.md for why each step is needed):
#   - Debian packages chromium (the browser playwright drives), ripgrep (code-server's
#     ripgrep download goes to GitHub, which is unreachable: we hand it Debian's rg) and
#     libkrb5-dev (code-server's `kerberos` module builds from source); apt-get only when
#     something is missing, as root or through passwordless sudo;
#   - vscode-client/node_modules from vscode-client/package-lock.json (`npm ci`);
#   - code-server and playwright-core from tests/editor/package-lock.json into a cache directory
#     shared by all checkouts (`node tests/editor/tools.js dir`; KVCAL_EDITOR_CACHE moves it).
# Exit status: 0 ready, 1 something could not be installed (the message says what to do).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
client_only=false
case "${1:-}" in
  --client) client_only=true ;;
  "") ;;
  *) echo "usage: $0 [--client]" >&2; exit 2 ;;
esac

say() { printf 'setup-editor-tests: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v node >/dev/null && command -v npm >/dev/null \
  || die "node and npm are needed (Node 20: code-server 4.100.3 runs on Node 20 only)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
# npm's own warnings about this machine's npmrc are noise here.
export npm_config_loglevel=error npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

sha() { sha256sum "$1" | cut -c1-16; }

# npm ci into DIR unless DIR/node_modules was installed from the same lock file.
npm_ci_once() {
  local dir=$1 stamp="$1/node_modules/.kvcal-lock"
  if [[ -f $stamp && $(cat "$stamp") == "$(sha "$dir/package-lock.json")" ]]; then return 0; fi
  say "npm ci in ${dir#"$repo"/}"
  (cd "$dir" && npm ci --no-audit --no-fund) >&2 || die "npm ci failed in $dir (no network to the npm registry?)"
  sha "$dir/package-lock.json" >"$stamp"
}

npm_ci_once "$repo/vscode-client"
$client_only && exit 0

# --- system packages -------------------------------------------------------------------------
missing=()
command -v chromium >/dev/null || [[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v rg >/dev/null || missing+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then sudo=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n)
  else die "missing Debian packages: ${missing[*]}; install them: sudo apt-get install ${missing[*]}"
  fi
  say "apt-get install ${missing[*]}"
  "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed (no network to Debian's archive?)"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
fi

# --- code-server + playwright-core into the shared cache ---------------------------------------
[[ $node_major == 20 ]] || die "code-server 4.100.3 needs Node 20, this is Node $(node --version)"
tools=$(node "$repo/tests/editor/tools.js" dir)
if [[ ! -f $tools/.complete ]]; then
  # Installed in place (VS Code's modules are not relocatable); .complete marks a finished one.
  rm -rf "$tools"
  mkdir -p "$tools"
  cp "$repo/tests/editor/package.json" "$repo/tests/editor/package-lock.json" "$tools/"
  say "installing code-server and playwright-core into $tools (about a minute, ~300 MB)"
  # First without install scripts, to learn which @vscode/ripgrep VS Code wants ...
  (cd "$tools" && npm ci --ignore-scripts) >&2 || die "npm ci of the editor-test tools failed (no network to the npm registry?)"
  # ... then seed that ripgrep's download cache with Debian's rg (GitHub is unreachable) ...
  rg_version=$(node -e '
    const p = process.argv[1] + "/node_modules/code-server/lib/vscode/package.json";
    const pkg = JSON.parse(require("fs").readFileSync(p, "utf8"));
    process.stdout.write((pkg.dependencies["@vscode/ripgrep"] || "").replace(/^[\^~]/, ""));' "$tools")
  [[ -n $rg_version ]] || die "cannot tell which @vscode/ripgrep code-server needs"
  rg_cache="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-$rg_version"
  rg_tarball="$rg_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
  if [[ ! -f $rg_tarball ]]; then
    mkdir -p "$rg_cache"
    tar -czf "$rg_tarball" -C "$(dirname "$(command -v rg)")" rg
  fi
  # ... then run the install scripts: code-server's postinstall installs VS Code's own modules
  # (it refuses root without unsafe_perm; node-pty runs `npx node-gyp`, which asks without yes).
  (cd "$tools" && npm_config_unsafe_perm=true npm_config_yes=true npm rebuild --foreground-scripts) >&2 \
    || die "code-server's install scripts failed (see above; libkrb5-dev, g++ and make are needed)"
  "$tools/node_modules/.bin/code-server" --version >/dev/null || die "code-server does not run after install"
  touch "$tools/.complete"
fi
say "ready: code-server $("$tools/node_modules/.bin/code-server" --version | head -1), $(/usr/bin/chromium --version 2>/dev/null)"
