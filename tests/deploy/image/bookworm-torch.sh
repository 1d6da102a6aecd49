#!/usr/bin/env bash
# Writes a root file system tarball to stand in for the CUDA PyTorch base image in the container test:
# Debian bookworm (debootstrap, Debian's own packages), python3 with pip and venv as `python`, the CPU torch
# wheel given, and this machine's pip trust settings (its CA bundle) so that pip works inside image builds.
# Docker Hub is out of reach here, so no base image can be pulled; `docker import` turns the tarball into one.
#
#   tests/deploy/image/bookworm-torch.sh OUT.tar TORCH_WHEEL
set -euo pipefail
out="$1"
wheel="$2"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
root="$(mktemp -d /tmp/motivnet-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,python-is-python3,ca-certificates \
    bookworm "$root" "$mirror"

# The host's CA bundle (it may hold a proxy's CA) and a pip.conf that points pip at it.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"

# torch into the system Python, as in the PyTorch images: the Dockerfile's venv sees it through
# --system-site-packages and pins it. Its small dependencies come from PyPI.
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$wheel" "$root/tmp/"
chroot "$root" python -m pip install --no-cache-dir --break-system-packages "/tmp/$(basename "$wheel")"

# What a runtime never reads: the downloaded .debs, apt's lists, the wheel, docs.
rm -rf "$root"/tmp/* "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/*
: > "$root/etc/resolv.conf"
tar --numeric-owner -C "$root" -cf "$out" .
