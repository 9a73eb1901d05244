#!/usr/bin/env bash
# Builds dist/weightscope.wasm: wasm32-unknown-unknown, release, SIMD128 (wasm/.cargo/config.toml).
# Uses rustup's wasm32 target when installed, else Debian's toolchain (rustc cargo libstd-rust-dev-wasm32 lld),
# installing it when missing and running as root.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=wasm32-unknown-unknown
DEBIAN_PACKAGES="rustc cargo libstd-rust-dev-wasm32 lld"

debian_has_wasm_std() {
  [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -d "$(/usr/bin/rustc --print sysroot)/lib/rustlib/$TARGET/lib" ]
}

if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  CARGO=(cargo)
else
  if ! debian_has_wasm_std; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
      echo "build-wasm: installing Debian's Rust toolchain for $TARGET: $DEBIAN_PACKAGES"
      apt-get update >/dev/null 2>&1 || echo "build-wasm: apt-get update failed; trying the existing package lists"
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive apt-get install -y $DEBIAN_PACKAGES
    fi
    if ! debian_has_wasm_std; then
      echo "build-wasm: no Rust toolchain for $TARGET. Install one of:" >&2
      echo "  rustup target add $TARGET" >&2
      echo "  sudo apt-get install -y $DEBIAN_PACKAGES" >&2
      exit 1
    fi
  fi
  CARGO=(env RUSTC=/usr/bin/rustc /usr/bin/cargo)
fi

(cd wasm && "${CARGO[@]}" build --release --target "$TARGET" -p weightscope-wasm)
mkdir -p dist
cp "wasm/target/$TARGET/release/weightscope_wasm.wasm" dist/weightscope.wasm
echo "build-wasm: dist/weightscope.wasm ($(wc -c < dist/weightscope.wasm) bytes)"
