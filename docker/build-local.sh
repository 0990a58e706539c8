#!/bin/sh
# Runs the whole of docker/Dockerfile, its Go build stage included, with
# podman on a machine that cannot pull images (as the project's machines):
# it assembles a stand-in for docker.io/library/golang:1.26-bookworm from this machine's Go
# toolchain, /bin/sh with its libraries and the modules go.sum names (taken
# from the local module cache, offline), then builds the committed tree
# (git HEAD) with GO_IMAGE set to it and no network.
#
#   sudo docker/build-local.sh [TAG]        # TAG defaults to localhost/authmilter:local
#
# Needs root, podman, go and git. Without CONTAINERS_CONF it writes the
# containers.conf that podman needs on such machines (runc, cgroupfs, no
# default ulimits). 4 to 6 minutes on 2 shared cores, almost all of it
# compiling in the build stage with an empty build cache. The build stage's
# image (about 500 MB) stays behind untagged: podman image prune removes it.
set -eu
tag=${1:-localhost/authmilter:local}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
goimg=localhost/authmilter-go-local:$$

if [ -z "${CONTAINERS_CONF:-}" ]; then
  printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\nevents_logger = "file"\n' >"$work/containers.conf"
  export CONTAINERS_CONF="$work/containers.conf"
fi

# The toolchain image: GOROOT, the modules, a shell and its libraries.
root=$work/go/rootfs
mkdir -p "$root/usr/local" "$root/go/pkg" "$root/bin" "$root/tmp"
chmod 1777 "$root/tmp"
cp -a "$(go env GOROOT)" "$root/usr/local/go"
(cd "$repo" && GOFLAGS=-mod=mod GOPROXY="file://$(go env GOMODCACHE)/cache/download" GOSUMDB=off \
  GOMODCACHE="$root/go/pkg/mod" go mod download) || {
  echo "build-local.sh: a module is missing from the local cache; run go mod download first" >&2
  exit 1
}
cp /bin/sh "$root/bin/sh"
for lib in $(ldd /bin/sh | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cat >"$work/go/Containerfile" <<'END'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/go/bin:/bin GOPATH=/go GOMODCACHE=/go/pkg/mod GOPROXY=off GOTOOLCHAIN=local GOCACHE=/tmp/gocache HOME=/tmp
WORKDIR /go
END
podman build --pull=never -t "$goimg" "$work/go"

# The build itself: docker/Dockerfile as shipped, from the committed tree.
mkdir "$work/ctx"
git -C "$repo" archive HEAD | tar -x -C "$work/ctx"
status=0
podman build --pull=never --network=none -f "$work/ctx/docker/Dockerfile" \
  --build-arg GO_IMAGE="$goimg" --build-arg VERSION="$(git -C "$repo" describe --always)" \
  -t "$tag" "$work/ctx" || status=$?
podman rmi "$goimg" >/dev/null || true
[ "$status" -eq 0 ] && podman run --rm --network=none "$tag" -version
exit "$status"
