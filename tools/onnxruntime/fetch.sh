#!/usr/bin/env bash
# Fetch the ONNX Runtime shared library that photo-ledger loads at run time.
#
# The library is taken from the official `onnxruntime` wheel on PyPI (CPU build,
# Linux x86_64). Both the wheel and the extracted library are checked against the
# SHA-256 sums pinned below, so a changed or corrupted download is refused.
#
# Usage:  tools/onnxruntime/fetch.sh [DEST_DIR]        (default: ./.onnxruntime)
#
# On success the absolute path of the library is printed on stdout, e.g.
#   export ORT_DYLIB_PATH="$(tools/onnxruntime/fetch.sh)"
# Progress messages go to stderr. Running it again is cheap: when DEST_DIR already
# holds the library with the pinned hash, nothing is downloaded.
#
# Needs: bash, python3 with pip (Debian: apt-get install -y python3-pip), sha256sum.
# To work offline, point ORT_WHEEL at an already downloaded copy of the wheel.
set -euo pipefail

ORT_VERSION="1.31.1"
WHEEL_NAME="onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256="5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"
LIB_IN_WHEEL="onnxruntime/capi/libonnxruntime.so.${ORT_VERSION}"
LIB_NAME="libonnxruntime.so.${ORT_VERSION}"
LIB_SHA256="fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"

DEST="${1:-./.onnxruntime}"

log() { printf 'onnxruntime/fetch.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) die "only Linux x86_64 is supported (this is $(uname -s)-$(uname -m))" ;;
esac
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"
command -v python3 >/dev/null || die "python3 not found"

mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"
TARGET="$DEST/$LIB_NAME"

link_aliases() {
  # The library's SONAME is libonnxruntime.so.1; the unversioned name is what
  # most loaders look for when given a directory.
  ln -sfn "$LIB_NAME" "$DEST/libonnxruntime.so.1"
  ln -sfn "$LIB_NAME" "$DEST/libonnxruntime.so"
}

if [[ -f "$TARGET" ]] && [[ "$(sha256_of "$TARGET")" == "$LIB_SHA256" ]]; then
  link_aliases
  log "already present: $TARGET"
  printf '%s\n' "$TARGET"
  exit 0
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ort-fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [[ -n "${ORT_WHEEL:-}" ]]; then
  [[ -f "$ORT_WHEEL" ]] || die "ORT_WHEEL=$ORT_WHEEL does not exist"
  WHEEL="$ORT_WHEEL"
  log "using wheel $WHEEL"
else
  python3 -m pip --version >/dev/null 2>&1 \
    || die "pip is not available for python3 (Debian: apt-get install -y python3-pip)"
  log "downloading onnxruntime==${ORT_VERSION} wheel with pip"
  # --platform/--python-version pick the manylinux x86_64 CPython 3.11 wheel no
  # matter which Python runs pip; --no-deps because only the wheel file is wanted.
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --implementation cp --python-version 3.11 --abi cp311 \
    --platform manylinux_2_28_x86_64 \
    --dest "$WORK" "onnxruntime==${ORT_VERSION}" >&2
  WHEEL="$WORK/$WHEEL_NAME"
  [[ -f "$WHEEL" ]] || die "pip did not produce $WHEEL_NAME (got: $(ls "$WORK"))"
fi

got="$(sha256_of "$WHEEL")"
[[ "$got" == "$WHEEL_SHA256" ]] \
  || die "wheel sha256 mismatch: expected $WHEEL_SHA256, got $got"
log "wheel sha256 ok"

# Extract with Python's zipfile so that `unzip` is not required.
python3 - "$WHEEL" "$LIB_IN_WHEEL" "$WORK/$LIB_NAME" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY

got="$(sha256_of "$WORK/$LIB_NAME")"
[[ "$got" == "$LIB_SHA256" ]] \
  || die "library sha256 mismatch: expected $LIB_SHA256, got $got"

chmod 0755 "$WORK/$LIB_NAME"
# Copy next to the target first, then rename, so a concurrent reader never sees
# a half-written library.
cp "$WORK/$LIB_NAME" "$TARGET.partial"
mv -f "$TARGET.partial" "$TARGET"
link_aliases
log "installed $TARGET"
printf '%s\n' "$TARGET"
