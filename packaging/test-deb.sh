#!/usr/bin/env bash
# Installs the .deb into a clean Debian 12 root and checks it there, as an operator's node
# would see it:
#
#   packaging/test-deb.sh target/x86_64-unknown-linux-musl/debian/anycastd_*.deb [UPGRADE.deb]  (as root)
#   packaging/test-deb.sh --prepare     # only build the cached root (.ci/run, once per machine)
#
# - The root: debootstrap bookworm minbase plus systemd (for `systemd-analyze verify`, the
#   Debian 12 one, run inside the root so every path the unit names is looked up in the
#   installed package, not on the build host) and man-db (so verify's Documentation=man:
#   check finds the installed page). Built once into /var/cache/anycastd-ci (CI runs in a fresh
#   clone, so target/ would not keep it; the machine does), then each run works on an overlay
#   of it: the cached root stays clean and nothing is copied.
# - In the root: dpkg -i with a policy-rc.d that forbids starting anything; `anycastd
#   --version`; the unit's own ExecStartPre line (check-config on the installed
#   /etc/anycastd/anycastd.toml); `systemd-analyze verify` on the installed unit; the conffile,
#   /var/lib/anycastd, the man pages and completions where they belong; an upgrade to the
#   next revision keeps an edited config; purge removes config and state.
# Exits non-zero on the first failed check.
set -euo pipefail

usage="usage: packaging/test-deb.sh PACKAGE.deb [UPGRADE.deb] | --prepare"
prepare=0
[ "${1:-}" != --prepare ] || prepare=1
[ "$prepare" = 1 ] || deb=$(realpath "${1:?$usage}")
upgrade=${2:+$(realpath "$2")}
[ "$(id -u)" = 0 ] || { echo "test-deb: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "test-deb: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }

cache=${ANYCASTD_DEB_ROOT_CACHE:-/var/cache/anycastd-ci}
include=systemd,man-db
base=$cache/bookworm-minbase
if [ "$(cat "$base.stamp" 2>/dev/null)" != "$include" ]; then
    t0=$SECONDS
    echo "test-deb: debootstrap bookworm (minbase + $include) into $base, once"
    rm -rf "$base.new" "$base" "$base.stamp"
    mkdir -p "$cache"
    debootstrap --variant=minbase --include="$include" bookworm "$base.new" http://deb.debian.org/debian \
        >"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
    apt_clean=("$base.new"/var/cache/apt/archives/*.deb)
    rm -f "${apt_clean[@]}"
    mv "$base.new" "$base"
    echo "$include" >"$base.stamp"
    echo "test-deb: root cached in $((SECONDS - t0)) s"
fi

[ "$prepare" = 0 ] || exit 0

work=$(mktemp -d /tmp/anycastd-test-deb.XXXXXX)
root=$work/root
cleanup() {
    for m in "$root/proc" "$root"; do mountpoint -q "$m" && umount "$m"; done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/upper" "$work/work" "$root"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/work" "$root"
mount -t proc proc "$root/proc"

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
ok() { echo "  ok: $*"; }
fail() { echo "  FAILED: $*" >&2; exit 1; }

printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
cp "$deb" "$root/tmp/anycastd.deb"
in_root dpkg -i /tmp/anycastd.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
ok "dpkg -i $(basename "$deb")"

[ "$(in_root sh -c 'command -v anycastd')" = /usr/sbin/anycastd ] || fail "anycastd is not /usr/sbin/anycastd on PATH"
version=$(in_root anycastd --version) || fail "anycastd --version"
ok "anycastd --version: $version"

# The unit's own ExecStartPre line, so the unit, the binary's path and the config agree.
unit=/usr/lib/systemd/system/anycastd.service
pre=$(sed -n 's/^ExecStartPre=//p' "$root$unit")
[ -n "$pre" ] || fail "no ExecStartPre in $unit"
# shellcheck disable=SC2086 # the unit's command line, split as systemd splits it (no quotes in it)
in_root $pre >"$work/check-config.log" 2>&1 || { cat "$work/check-config.log" >&2; fail "$pre"; }
ok "$pre: $(tail -1 "$work/check-config.log")"

in_root systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "systemd-analyze verify $unit"; }
[ ! -s "$work/verify.log" ] || { cat "$work/verify.log" >&2; fail "systemd-analyze verify $unit printed warnings"; }
ok "systemd-analyze verify $unit (systemd $(in_root systemctl --version | head -1 | cut -d' ' -f2), in the root): clean"

conffiles=$(in_root dpkg-query -W -f='${Conffiles}' anycastd)
grep -q '^ /etc/anycastd/anycastd.toml ' <<<"$conffiles" || fail "/etc/anycastd/anycastd.toml is not a conffile: $conffiles"
[ "$(stat -c %a "$root/etc/anycastd/anycastd.toml")" = 600 ] || fail "/etc/anycastd/anycastd.toml is not 0600"
ok "/etc/anycastd/anycastd.toml: a conffile, 0600"
[ "$(stat -c %a "$root/var/lib/anycastd")" = 700 ] || fail "/var/lib/anycastd missing or not 0700"
ok "/var/lib/anycastd: 0700"
in_root man -w anycastd >/dev/null || fail "man anycastd"
in_root man -w anycastd-status >/dev/null || fail "man anycastd-status"
ok "man pages: $(in_root dpkg -L anycastd | grep -c '^/usr/share/man/man8/.*\.8\.gz$') in section 8"
for f in /usr/share/bash-completion/completions/anycastd /usr/share/zsh/vendor-completions/_anycastd \
         /usr/share/fish/vendor_completions.d/anycastd.fish; do
    grep -q check-config "$root$f" || fail "completion $f"
done
ok "completions: bash, zsh, fish"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/anycastd.service" ] || fail "installed enabled"
ok "the unit is installed, not enabled and not started (edit the config first)"

if [ -n "$upgrade" ]; then
    echo '# edited by the operator' >>"$root/etc/anycastd/anycastd.toml"
    cp "$upgrade" "$root/tmp/upgrade.deb"
    in_root dpkg -i /tmp/upgrade.deb >"$work/upgrade.log" 2>&1 </dev/null || { cat "$work/upgrade.log" >&2; fail "upgrade"; }
    tail -1 "$root/etc/anycastd/anycastd.toml" | grep -q 'edited by the operator' || fail "upgrade lost the edited config"
    ok "upgrade to $(in_root dpkg-query -W -f='${Version}' anycastd): the edited config is kept"
fi

in_root dpkg --purge anycastd >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge"; }
[ ! -e "$root/etc/anycastd" ] && [ ! -e "$root/var/lib/anycastd" ] && [ ! -e "$root/usr/sbin/anycastd" ] \
    || fail "purge left /etc/anycastd, /var/lib/anycastd or the binary"
ok "dpkg --purge: binary, config and state gone"
