# Shared by scripts/setup, scripts/run and scripts/test: where tools live and how the wasm is built.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ATTACH_CENTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/attach-center}"
TOOLS="$CACHE/tools"
NPM_PREFIX="$CACHE/npm"
# The tests' OpenID Provider (npm's oidc-provider, pinned in crates/server/testing/oidc-provider).
export ATTACH_OIDC_PROVIDER="$CACHE/oidc-provider"
export PATH="$TOOLS/bin:$NPM_PREFIX/node_modules/.bin:$HOME/.cargo/bin:$PATH"

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0
WASM_TARGET=wasm32-unknown-unknown
# Written by scripts/setup when rustup cannot add the wasm target and Debian's toolchain is used.
WASM_TOOLCHAIN_MARKER="$CACHE/wasm-toolchain"
# The site connector runs next to site servers: it is checked for Windows too.
WINDOWS_TARGET=x86_64-pc-windows-gnu
# Written by scripts/setup when the Windows target and MinGW's C compiler are in place.
WINDOWS_MARKER="$CACHE/windows-target"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The wasm-bindgen version that Cargo.lock pins (Cargo.toml pins it with `=`).
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# Runs a command with the environment that builds for wasm32: rustup's target, or Debian's
# rustc-web with std built from source and lld's wasm-ld when rustup's target is unavailable.
with_wasm_env() {
  if [ "$(cat "$WASM_TOOLCHAIN_MARKER" 2>/dev/null)" = debian ]; then
    RUSTUP_TOOLCHAIN=debian RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22 "$@"
  else
    "$@"
  fi
}

# Builds the SPA in release mode into dist/ with Trunk, offline; skipped when nothing it is built
# from changed since the last build.
build_spa() {
  local stamp
  stamp="$(cd "$ROOT" && { find src style assets crates/api -type f -print0 | sort -z | xargs -0 sha256sum; \
    sha256sum index.html Trunk.toml Cargo.toml Cargo.lock; } | sha256sum | cut -d' ' -f1)"
  if [ -f "$ROOT/dist/index.html" ] && [ "$(cat "$ROOT/dist/.build-stamp" 2>/dev/null)" = "$stamp" ]; then
    say "SPA is up to date (dist/)"
    return
  fi
  say "Building the SPA (trunk build --release)"
  (cd "$ROOT" && with_wasm_env trunk build --release --offline --skip-version-check)
  echo "$stamp" > "$ROOT/dist/.build-stamp"
}
