#!/usr/bin/env bash
# Installs every Debian package the build, the app and the tests need, and the
# UI's npm packages. Idempotent: run it as often as you like.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build
  build-essential pkg-config curl ca-certificates
  # Tauri v2 on WebKitGTK
  libwebkit2gtk-4.1-dev libgtk-3-dev libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev
  # PC/SC and the virtual reader
  pcscd libpcsclite-dev vsmartcard-vpcd
  # audio: cpal (ALSA), the private PulseAudio test server, speech and tools
  libasound2-dev libasound2-plugins pulseaudio pulseaudio-utils espeak-ng sox
  # camera: nokhwa's V4L2 bindings are made with bindgen
  libclang-dev clang libv4l-dev
  # UI tests and the headless desktop
  xvfb xauth webkit2gtk-driver
  # the window plays the recorded voice back: WebKitGTK's WAV parser and
  # PulseAudio sink (installed without recommends, so named here)
  gstreamer1.0-plugins-good
  # fonts that render Chinese
  fonts-noto-cjk
  # the UI build
  nodejs npm
  # the test bed's readiness checks
  iproute2 procps
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node and npm may come from outside Debian (e.g. nodesource); take them as they are.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do
    case "$p" in nodejs|npm) ;; *) filtered+=("$p") ;; esac
  done
  missing=("${filtered[@]}")
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# pcscd must not be socket-activated by systemd behind our back: the test bed
# starts its own instance in the foreground.
if [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now pcscd.socket pcscd.service >/dev/null 2>&1 || true
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi

# The UI: TypeScript compiled by tsc, no bundler.
(cd ui && if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi)
echo "setup: done"
