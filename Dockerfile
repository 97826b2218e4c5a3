# The Switchyard example shop (examples/ecommerce) as a container image: one
# static binary on an empty base, run as an unprivileged numeric user, with
# no shell or package manager, and nothing written outside the /data volume,
# so the root filesystem can be mounted read-only.
#
#   docker build -t switchyard/ecommerce .          (or: podman build …)
#   docker run --rm --read-only -v shop-data:/data -p 8080:8080 switchyard/ecommerce \
#       serve gateway --listen :8080 --registry dns+srv://_http._tcp.{service}.shop.svc.cluster.local
#
# It lives at the repository's root because the build context must hold the
# whole module: the shop is built from the library's own packages.
#
# Without access to a registry for the golang image, build the binary on the
# host and give the build stage's output as a named context, which replaces
# the stage of that name (BuildKit and podman alike):
#   podman build --build-context build=DIR .
# where DIR holds the tree the build stage makes: rootfs/ecommerce (built
# with CGO_ENABLED=0), rootfs/etc/passwd and group (from deploy/container),
# rootfs/etc/ssl/certs/ca-certificates.crt and an empty rootfs/data. The
# "container image" step of .ci/run does exactly that.

ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm

# build compiles without cgo: modernc.org/sqlite is pure Go and the pgx
# driver too, so the binary is static and the image needs no libc. The
# users and groups, and the system's CA certificates (for a PostgreSQL
# server verified with sslmode=verify-full), come along.
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /rootfs/ecommerce ./examples/ecommerce \
 && mkdir -p /rootfs/etc/ssl/certs /rootfs/data \
 && cp deploy/container/passwd deploy/container/group /rootfs/etc/ \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/

FROM scratch
COPY --from=build /rootfs/ecommerce /ecommerce
COPY --from=build /rootfs/etc/ /etc/
# The data directory belongs to the shop's user (which narrows it to 0700
# at start, as it does every data directory). A new volume mounted here
# starts as a copy of it, owner included.
COPY --from=build --chown=65532:65532 /rootfs/data /data
# The shop writes to its data directory only. SQLite may spill large sorts
# into temporary files: TMPDIR points them at the volume too, so a
# read-only root filesystem works without a writable /tmp.
ENV ECOMMERCE_DATA=/data TMPDIR=/data
WORKDIR /data
VOLUME /data
USER 65532:65532
# 8080: a service's or the gateway's listener (--listen :8080); 2379 and
# 2380: the registry's client and peer ports (ecommerce registry).
EXPOSE 8080 2379 2380
ENTRYPOINT ["/ecommerce"]
CMD ["help"]
