#!/usr/bin/env bash
# Developer-run, here (Debian bookworm): packs the Debian libraries the build needs besides
# LibTorch into .carry/sysroot, for a CUDA build on a lent GPU machine that has PyTorch (and
# its CUDA LibTorch) but no package registry. Headers and CMake files come from the -dev
# packages; run-time libraries are this machine's, with their closure (ldd), minus glibc, the
# C++ runtime and LibTorch's own libraries, which that machine has. Gloo: headers only (c10d's
# ProcessGroupGloo.hpp needs them; the wheel has gloo built in and ships none).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=.carry/sysroot
rm -rf .carry/debs "$root" && mkdir -p .carry/debs "$root"
dev_packages="libfmt-dev nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libpng-dev libjpeg62-turbo-dev zlib1g-dev
  libmatio-dev libcurl4-openssl-dev libarchive-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libgloo-dev"
(cd .carry/debs && apt-get download $dev_packages >/dev/null)
for deb in .carry/debs/*.deb; do dpkg -x "$deb" "$root"; done
lib="$root/usr/lib/x86_64-linux-gnu"
mkdir -p "$lib"
skip='libc\.so|libm\.so|libdl\.so|libpthread|librt\.so|ld-linux|libstdc\+\+|libgcc_s|libtorch|libc10|libgomp|libdnnl|libsleef|libcaffe2|libshm|libicu|libxml2|libgloo'
# Each -dev package's library symlink names its run-time library: copy that from this
# machine, with its own closure.
find "$root" -xtype l -name '*.so' | while read -r link; do
  so="/usr/lib/x86_64-linux-gnu/$(basename "$(readlink "$link")")"
  if [ ! -e "$so" ]; then continue; fi
  { echo "$so"; ldd "$so" | awk '/=>/ {print $3}'; } | grep -Ev "$skip" | while read -r f; do
    real=$(readlink -f "$f")  # keep the real file name and the soname link, as CMake files expect
    cp "$real" "$lib/"
    if [ "$(basename "$f")" != "$(basename "$real")" ]; then ln -sf "$(basename "$real")" "$lib/$(basename "$f")"; fi
  done
done
# Make the -dev symlinks resolve inside the sysroot.
find "$root" -xtype l | while read -r link; do
  target=$(readlink "$link"); base=$(basename "$target")
  if [ -e "$lib/$base" ]; then ln -sf "$base" "$link"; fi
done
rm -rf "$root/usr/share/doc" "$root/usr/share/man" .carry/debs
find "$root" -name "*.a" ! -name "libgtest*" ! -name "libgmock*" -delete
du -sh "$root"
