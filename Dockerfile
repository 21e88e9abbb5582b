# syntax=docker/dockerfile:1
#
# The jimm broker's image: static jimmd and jimmctl on distroless, running
# as an unprivileged user, with nothing else (no shell, no package manager).
#
#   docker build \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(git log -1 --format=%cI) \
#     -t jimm:dev .
#
# The same sources and build arguments give the same binaries: paths are
# trimmed, the build id and VCS stamping are off, and the version comes
# from the arguments (jimmd --version, jimm_build_info).
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
ARG REVISION=unknown
ENV CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
RUN go build -ldflags "-s -w -buildid= -X main.version=${VERSION} -X main.revision=${REVISION}" -o /out/usr/local/bin/jimmd ./cmd/jimmd && \
    go build -ldflags "-s -w -buildid= -X main.version=${VERSION} -X main.revision=${REVISION}" -o /out/usr/local/bin/jimmctl ./cmd/jimmctl
# The data directory (generated certificates, the audit spool), owned by
# the user the image runs as: the final stage has no shell to make it.
RUN mkdir -p /out/var/lib/jimm && chown 65532:65532 /out/var/lib/jimm && chmod 0700 /out/var/lib/jimm

FROM ${BASE_IMAGE}
ARG VERSION=devel
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="jimm" \
      org.opencontainers.image.description="A broker that fronts a fleet of Juju controllers and looks like one controller to every client" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/usr/local/bin/jimmd /out/usr/local/bin/jimmctl /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/var/lib/jimm /var/lib/jimm
USER 65532:65532
# 17070: the Juju API (TLS WebSockets) and the /v1 admin API;
# 9090: Prometheus metrics, /healthz and /readyz (plain HTTP).
EXPOSE 17070 9090
ENTRYPOINT ["jimmd", "serve"]
