# syntax=docker/dockerfile:1
# The pipewright tools as a container image, for Kubernetes CronJobs and other container runners.
#
#   docker build -t pipewright .                         build from source (static musl binaries)
#   docker build --target binaries --output type=local,dest=dist/ .   only the binaries
#   docker build --build-arg BINARIES=prebuilt .        package prebuilt/<arch>/* (release.yml)
#
# The build stage is Alpine: its native C toolchain targets musl, with the kernel headers the
# AWS crates' C code (aws-lc) needs, so static binaries need no cross toolchain. The final image
# is distroless static, running as the non-root user 65532, with nothing in it but the binaries,
# CA certificates and tzdata.
ARG RUST_VERSION=1.95
ARG BINARIES=source

FROM rust:${RUST_VERSION}-alpine AS build
RUN apk add --no-cache musl-dev linux-headers cmake make perl
WORKDIR /src
COPY . .
# The context has no .git (see .dockerignore): the commit for `--version` comes in as arguments.
ARG PIPEWRIGHT_BUILD_COMMIT=unknown
ARG PIPEWRIGHT_BUILD_DATE=
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
      --package oidc-creds --package eks-token --package k8s-apply --package rollout-wait \
 && mkdir -p /out \
 && cp target/release/oidc-creds target/release/eks-token target/release/k8s-apply \
       target/release/rollout-wait /out/

# Only the binaries, for `--output type=local`.
FROM scratch AS binaries
COPY --from=build /out/ /

FROM build AS binaries-source
FROM scratch AS binaries-prebuilt
ARG TARGETARCH
COPY prebuilt/${TARGETARCH}/ /out/
FROM binaries-${BINARIES} AS chosen

FROM gcr.io/distroless/static-debian12:nonroot AS image
COPY --from=chosen --chmod=0555 /out/ /usr/local/bin/
USER 65532:65532
# No entrypoint: a CronJob names the tool, e.g. command: ["rollout-wait", "--release", "…"].
CMD ["k8s-apply", "--help"]
