#!/usr/bin/env bash
# base.sh -- makes the Debian base image the Dockerfile builds on, for machines that pull
# from no registry: debootstrap (minbase) from the Debian mirror apt already uses, trimmed
# the way debian:bookworm-slim is (no docs, man pages or locales; empty apt lists), then
# imported as a local image. Where a registry is reachable, skip this and build with
# --build-arg BASE=debian:bookworm-slim instead.
# usage: docker/base.sh [IMAGE]          (as root; default image neurond-base:bookworm)
# environment: MIRROR (default: the mirror in this machine's apt sources), SUITE
# (default bookworm), ENGINE (default podman; docker works the same)
set -euo pipefail
image=${1:-neurond-base:bookworm}
suite=${SUITE:-bookworm}
engine=${ENGINE:-podman}

die() { echo "base.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "debootstrap needs root: run it as root (sudo $0)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
command -v "$engine" >/dev/null || die "$engine is missing: apt-get install $engine"

# The URIs apt uses here, from deb822 .sources files and one-line sources.list entries.
apt_uris() {
  { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p'
  } | sed 's:/*$::' | awk 'NF && !seen[$0]++'
}
mirror=${MIRROR:-$(apt_uris | grep -E '/debian$' | head -n1 || true)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${SECURITY_MIRROR:-$(apt_uris | grep -E '/debian-security$' | head -n1 || true)}

root=$(mktemp -d /var/tmp/neurond-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base.sh: debootstrap $suite from $mirror into $root"
debootstrap --variant=minbase --arch="$(dpkg --print-architecture)" "$suite" "$root" "$mirror" \
  > "$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; rm -f "$root.log"; die "debootstrap failed"; }
rm -f "$root.log"

# The same sources inside the image: the suite, its updates, and security when apt has it.
{ echo "deb $mirror $suite main"
  echo "deb $mirror $suite-updates main"
  if [ -n "$security" ]; then echo "deb $security $suite-security main"; fi
} > "$root/etc/apt/sources.list"

# What the slim images leave out, now and for every package installed later.
cat > "$root/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/{man,groff,info,lintian,linda}/* "$root"/var/lib/apt/lists/* \
       "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old "$root"/var/log/* "$root"/tmp/*
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
# the engine supplies these at run time
: > "$root/etc/machine-id"
rm -f "$root/etc/hostname" "$root/etc/resolv.conf"

echo "base.sh: importing as $image"
tar --numeric-owner -C "$root" -c . |
  "$engine" import --quiet --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$image" >/dev/null
"$engine" image ls "$image"
