#!/usr/bin/env bash
# Installs what the end-to-end tests and the demo need: Debian's Chromium (driven by playwright-core) and
# code-server 4.100.3 (VS Code 1.100 with a Node extension host) in .cache/e2e/. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
CODE_SERVER_VERSION=4.100.3
E2E_DIR="$PWD/.cache/e2e"

missing=()
for pkg in chromium ripgrep libkrb5-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-e2e: missing Debian packages: ${missing[*]} — run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  apt-get update >/dev/null 2>&1 || echo "setup-e2e: apt-get update failed; trying the existing package lists"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

entry="$E2E_DIR/node_modules/code-server/out/node/entry.js"
if [ -f "$E2E_DIR/.installed-$CODE_SERVER_VERSION" ] && [ -f "$entry" ]; then
  exit 0
fi

mkdir -p "$E2E_DIR/tmp"
# @vscode/ripgrep's postinstall downloads rg from the internet; it accepts a cached archive instead, so hand it
# Debian's rg under the name it looks for.
rg_cache="$E2E_DIR/tmp/vscode-ripgrep-cache-1.15.11"
mkdir -p "$rg_cache" "$E2E_DIR/tmp/rg-pack"
cp /usr/bin/rg "$E2E_DIR/tmp/rg-pack/rg"
tar -czf "$rg_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$E2E_DIR/tmp/rg-pack" rg

cat > "$E2E_DIR/package.json" <<JSON
{ "name": "weightscope-e2e-host", "private": true, "dependencies": { "code-server": "$CODE_SERVER_VERSION" } }
JSON
(
  cd "$E2E_DIR"
  export TMPDIR="$E2E_DIR/tmp" npm_config_unsafe_perm=true npm_config_yes=true npm_config_ignore_scripts=false
  npm install --no-audit --no-fund --foreground-scripts >"$E2E_DIR/install.log" 2>&1 || {
    tail -40 "$E2E_DIR/install.log" >&2
    exit 1
  }
)
test -f "$entry"
touch "$E2E_DIR/.installed-$CODE_SERVER_VERSION"
echo "setup-e2e: code-server $CODE_SERVER_VERSION installed in $E2E_DIR"
