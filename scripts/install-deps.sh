#!/bin/sh
# Install the Debian packages HyperFork needs to build, test and benchmark (as root).
set -e
PKGS="gcc make libc6-dev libjansson-dev libcmocka-dev pkg-config \
linux-source-6.1 flex bison bc libelf-dev libssl-dev cpio xz-utils lz4 perl busybox-static \
qemu-system-x86 gnuplot-nox musl-tools libmicrohttpd-dev libseccomp-dev libzip-dev procps util-linux e2fsprogs iproute2 kmod python3-minimal curl awscli python3-boto3 \
prometheus wrk clang \
protobuf-c-compiler libprotobuf-c-dev golang-github-containerd-containerd-dev golang-github-containerd-ttrpc-dev golang-github-containerd-cgroups-dev \
golang-github-gogo-protobuf-dev golang-github-gogo-googleapis-dev containerd"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "error: packages missing ($missing); run as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || echo "warning: apt-get update failed; trying the install anyway" >&2
apt-get install -y -qq --no-install-recommends $missing
