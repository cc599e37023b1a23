#!/usr/bin/env bash
# Builds the packages from one static binary (x86_64-unknown-linux-musl: no glibc floor, so the
# same file runs on Debian 11/12, RHEL 8/9, Ubuntu 20.04+):
#
#   packaging/build.sh               # cargo build --release for musl, then .deb (and .rpm)
#   packaging/build.sh --no-build    # package the binary already built (tests/all.sh builds it)
#
# Writes the man pages (`anycastd man --dir`) and the bash/zsh/fish completions (`anycastd
# completions`) from the binary itself beside it, in target/x86_64-unknown-linux-musl/release/pkg/,
# where the [package.metadata.deb] and [package.metadata.generate-rpm] assets (Cargo.toml) take
# them. Out: target/x86_64-unknown-linux-musl/debian/anycastd_VERSION-1_amd64.deb, and with
# cargo-generate-rpm installed target/x86_64-unknown-linux-musl/generate-rpm/anycastd-VERSION-1.x86_64.rpm.
# Needs: `rustup target add x86_64-unknown-linux-musl`, musl-tools (ring's C through musl-gcc),
# `cargo install cargo-deb` (and cargo-generate-rpm for the rpm).
set -euo pipefail
cd "$(dirname "$0")/.."

triple=x86_64-unknown-linux-musl
release=${CARGO_TARGET_DIR:-target}/$triple/release
debs=${CARGO_TARGET_DIR:-target}/$triple/debian
if [ "${1:-}" != --no-build ]; then
    cargo build --release --locked --bin anycastd --target "$triple"
fi
bin=$release/anycastd
[ -x "$bin" ] || { echo "packaging: no $bin (build it, or drop --no-build)" >&2; exit 1; }

pkg=$release/pkg
rm -rf "$pkg"
mkdir -p "$pkg/completions"
"$bin" man --dir "$pkg/man"
gzip -9n "$pkg"/man/*.8
"$bin" completions bash >"$pkg/completions/anycastd.bash"
"$bin" completions zsh >"$pkg/completions/_anycastd"
"$bin" completions fish >"$pkg/completions/anycastd.fish"
# Both packages carry this stripped copy (10 MB; the build keeps line tables for backtraces).
strip -o "$pkg/anycastd" "$bin"

cargo deb --no-build --locked --target "$triple" --output "$debs/"
if command -v cargo-generate-rpm >/dev/null; then
    cargo generate-rpm --target "$triple"
else
    echo "packaging: cargo-generate-rpm not installed, no rpm (cargo install cargo-generate-rpm)"
fi
