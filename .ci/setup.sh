#!/usr/bin/env bash
# Installs what Reelflow needs on a fresh Debian 12 machine with rustup (as root, or with sudo).
# Idempotent: every step checks first, so running it again costs a second or two.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

# Debian packages: the FFmpeg 5.1 libraries and clang (bindgen) for reelflow-media; the
# ffmpeg CLI as the reference in benchmarks; xmllint to check FCPXML against Apple's DTDs.
APT_PACKAGES=(pkg-config ca-certificates clang libclang-dev
  libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev libavutil-dev libswscale-dev libswresample-dev
  ffmpeg libxml2-utils)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Rust components and targets: rustfmt/clippy for CI, wasm32-wasip2 for plugin guests.
installed_components=$(rustup component list --installed 2>/dev/null || true)
for comp in rustfmt clippy; do
  echo "$installed_components" | grep -q "^$comp" || rustup component add "$comp"
done
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
