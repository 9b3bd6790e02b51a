#!/bin/bash
# Builds the OCI runtime-tools validation suite from Debian's source package
# golang-github-opencontainers-runtime-tools (trixie) with Debian's Go
# toolchain and Go library packages, in GOPATH mode.
#
# Result (under conformance/runtime-tools/work/, gitignored):
#   bin/runtimetest            the in-container checker the programs copy
#   bin/rootfs-amd64.tar.gz    the rootfs the programs unpack into bundles
#   bin/validation/<program>   one executable per validation program
#
# The trixie Sources index is read through a private apt configuration under
# work/apt; /etc/apt is left alone. A second run only checks the stamp.
#
# Environment:
#   RTT_VERSION   Debian source version to build (default below)
#   RTT_MIRROR    Debian mirror URL (default: the one /etc/apt uses)
#   RTT_SUITE     suite whose Sources index is read (default: trixie)
#   RTT_FORCE=1   rebuild even when the stamp is current
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$HERE/work
SRCPKG=golang-github-opencontainers-runtime-tools
VERSION=${RTT_VERSION:-0.9.0.109.ge931285-1}
SUITE=${RTT_SUITE:-trixie}
IMPORT=github.com/opencontainers/runtime-tools
GOPATH_DIR=$WORK/gopath
SRC=$GOPATH_DIR/src/$IMPORT
BIN=$WORK/bin

# Debian packages: the Go toolchain and every library the suite imports
# (github.com/mndrix/tap-go is not packaged; ours is in tap-go/).
GO_PKGS="golang-go golang-github-google-uuid-dev golang-github-mrunalp-fileutils-dev
golang-github-opencontainers-specs-dev golang-gocapability-dev
golang-github-sirupsen-logrus-dev golang-github-hashicorp-go-multierror-dev
golang-golang-x-sys-dev golang-github-urfave-cli-dev
golang-github-opencontainers-selinux-dev golang-github-xeipuuv-gojsonschema-dev
golang-github-blang-semver-dev"
# Tools the build and the programs use.
TOOL_PKGS="xz-utils patch tar ca-certificates"

die() {
    echo "setup.sh: error: $*" >&2
    exit 1
}
log() { echo "setup.sh: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (installs Debian packages; the suite runs containers)"

# --- 1. Debian packages -------------------------------------------------------
missing=()
for p in $GO_PKGS $TOOL_PKGS; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=900 update -qq ||
        die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
fi
command -v go >/dev/null || die "go not found after installing golang-go"

# --- 2. Up to date? -----------------------------------------------------------
stamp_key() {
    {
        echo "$VERSION"
        sha256sum "$HERE/tap-go/tap.go" "$HERE/setup.sh"
        go version
    } | sha256sum | cut -d' ' -f1
}
KEY=$(stamp_key)
if [ "${RTT_FORCE:-0}" != 1 ] && [ -f "$BIN/.stamp" ] && [ "$(cat "$BIN/.stamp")" = "$KEY" ] &&
    [ -x "$BIN/runtimetest" ] && [ -f "$BIN/rootfs-amd64.tar.gz" ] && [ -d "$BIN/validation" ]; then
    log "up to date ($(ls "$BIN/validation" | wc -l) validation programs in $BIN)"
    exit 0
fi

# --- 3. Source tarballs, checked against the Sources index ---------------------
# The mirror /etc/apt uses for Debian itself (not -security), one-line or
# deb822 format.
find_mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 ~ /^deb(-src)?$/ {
                for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
    done
}
MIRROR=${RTT_MIRROR:-$(find_mirror | grep -E '/debian/?$' | head -n1)}
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list(.d); set RTT_MIRROR"
MIRROR=${MIRROR%/}

DL=$WORK/dl
APTDIR=$WORK/apt
mkdir -p "$DL" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/parts"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" \
    >"$APTDIR/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$APTDIR/sources.list"
    -o "Dir::Etc::SourceParts=$APTDIR/parts"
    -o "Dir::State::Lists=$APTDIR/lists"
    -o "Dir::Cache=$APTDIR/cache"
    -o "APT::Sandbox::User=root")

SUMS=$DL/SHA256SUMS-$VERSION # "sha256  file" lines for the tarballs, from the index
have_tarballs() {
    [ -s "$SUMS" ] && (cd "$DL" && sha256sum --quiet -c "$SUMS" >/dev/null 2>&1)
}
if ! have_tarballs; then
    log "reading the $SUITE Sources index from $MIRROR (private apt config in $APTDIR)"
    apt-get "${APT_OPTS[@]}" -qq update || die "apt-get update of the private $SUITE deb-src list failed"
    uris=$(apt-get "${APT_OPTS[@]}" -qq source --print-uris "$SRCPKG=$VERSION" 2>/dev/null |
        grep "^'" || true)
    [ -n "$uris" ] || die "$SRCPKG $VERSION not found in the $SUITE Sources index of $MIRROR"
    : >"$SUMS.new"
    # Lines: 'URI' FILE SIZE SHA256:HEX. The .dsc is not needed (and missing
    # on some mirrors); the orig and debian tarballs are.
    while read -r uri file _size hash; do
        uri=${uri//\'/}
        case $file in
        *.dsc) continue ;;
        esac
        [ "${hash%%:*}" = SHA256 ] || die "no SHA256 sum for $file in the Sources index"
        sum=${hash#SHA256:}
        if ! (cd "$DL" && echo "$sum  $file" | sha256sum --quiet -c - >/dev/null 2>&1); then
            log "downloading $file"
            rm -f "$DL/$file"
            /usr/lib/apt/apt-helper "${APT_OPTS[@]}" download-file "$uri" "$DL/$file" "SHA256:$sum" >/dev/null ||
                die "download of $uri failed"
        fi
        (cd "$DL" && echo "$sum  $file" | sha256sum --quiet -c -) ||
            die "$file does not match the SHA256 sum of the Sources index"
        echo "$sum  $file" >>"$SUMS.new"
    done <<<"$uris"
    grep -q '\.orig\.tar\.' "$SUMS.new" || die "no orig tarball listed for $SRCPKG $VERSION"
    grep -q '\.debian\.tar\.' "$SUMS.new" || die "no debian tarball listed for $SRCPKG $VERSION"
    mv "$SUMS.new" "$SUMS"
fi
log "tarballs verified: $(cut -d' ' -f3 "$SUMS" | tr '\n' ' ')"

# --- 4. Unpack and apply Debian's patches ------------------------------------
ORIG=$DL/$(awk '$2 ~ /\.orig\.tar\./ {print $2}' "$SUMS")
DEBTAR=$DL/$(awk '$2 ~ /\.debian\.tar\./ {print $2}' "$SUMS")
rm -rf "$GOPATH_DIR/src"
mkdir -p "$SRC"
tar -xf "$ORIG" -C "$SRC" --strip-components=1 || die "cannot unpack $ORIG"
tar -xf "$DEBTAR" -C "$SRC" || die "cannot unpack $DEBTAR"
if [ -f "$SRC/debian/patches/series" ]; then
    while read -r patchname opts; do
        case $patchname in '' | '#'*) continue ;; esac
        log "applying debian/patches/$patchname"
        # shellcheck disable=SC2086 # series options are words
        (cd "$SRC" && patch -s -p1 ${opts:-} <"debian/patches/$patchname") ||
            die "debian/patches/$patchname does not apply"
    done <"$SRC/debian/patches/series"
fi

# Our TAP producer under the import path the suite uses.
TAPDIR=$GOPATH_DIR/src/github.com/mndrix/tap-go
mkdir -p "$TAPDIR"
cp "$HERE/tap-go/tap.go" "$TAPDIR/tap.go"

# --- 5. Build -----------------------------------------------------------------
export GO111MODULE=off
export GOPATH=$GOPATH_DIR:/usr/share/gocode
export GOCACHE=$WORK/gocache
export GOFLAGS=
programs=$(cd "$SRC/validation" && for d in */; do
    d=${d%/}
    if [ "$d" != util ] && ls "$d"/*.go >/dev/null 2>&1; then echo "$d"; fi
done)
[ -n "$programs" ] || die "no validation programs found in $SRC/validation"
rm -rf "$BIN.new"
mkdir -p "$BIN.new/validation"
log "building runtimetest (static)"
(cd "$SRC" && CGO_ENABLED=0 go build -tags "netgo osusergo" \
    -ldflags "-X main.version=$(cat VERSION) -X main.gitCommit=debian-$VERSION" \
    -o "$BIN.new/runtimetest" ./cmd/runtimetest) || die "building runtimetest failed"
log "building $(echo "$programs" | wc -l) validation programs"
pkgs=$(echo "$programs" | sed 's|^|./validation/|')
# shellcheck disable=SC2086 # one word per package
(cd "$SRC" && go build -o "$BIN.new/validation/" $pkgs) || die "building the validation programs failed"
for p in $programs; do
    [ -x "$BIN.new/validation/$p" ] || die "validation program $p was not built"
done
cp "$SRC/rootfs-amd64.tar.gz" "$BIN.new/" || die "rootfs-amd64.tar.gz missing from the source"
echo "$KEY" >"$BIN.new/.stamp"
rm -rf "$BIN"
mv "$BIN.new" "$BIN"
log "built $(echo "$programs" | wc -l) validation programs and runtimetest in $BIN"
