#!/usr/bin/env bash
# Installs what sanity needs on Debian 12: idempotent, quiet when all is present.
# Build: Lua 5.4, OpenBLAS (with LAPACK), HDF5, zlib, cJSON, GSL, OpenSSL (SHA-256).
# Data: Fashion-MNIST. Fixtures/plots (optional for tests): PyTorch, h5py, SciPy, matplotlib.
set -euo pipefail
pkgs=(build-essential pkg-config liblua5.4-dev libopenblas-dev libhdf5-dev hdf5-tools
      zlib1g-dev libcjson-dev libgsl-dev libssl-dev dataset-fashion-mnist
      python3-h5py python3-numpy python3-matplotlib python3-scipy)
[ "${SANITY_WITH_TORCH:-0}" = 1 ] && pkgs+=(python3-torch python3-skimage)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
