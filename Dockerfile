# syntax=docker/dockerfile:1
# The podnetstat image: the agent binary on debian:bookworm-slim with its runtime libraries only,
# and the kubectl plugin kubectl-podnetstat beside it, for people to copy out (docs/deploy.md).
#
#   docker build -t podnetstat:0.1.0 --build-arg VERSION=0.1.0 .
#   docker run --rm podnetstat:0.1.0 version
#
# The chart (charts/podnetstat) runs it as root with a few capabilities, hostPID and the host's
# netns dir, CRI socket and /var/log/pods mounted: see docs/deploy.md. scripts/image-check.sh
# builds and runs it in CI with podman. Classic RUN lines only (no heredocs), so that older
# builders (buildah 1.28, Debian 12's podman) take it too.

ARG DEBIAN_SUITE=bookworm

FROM debian:${DEBIAN_SUITE} AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# The project's own dependency script, alone first: this layer stays cached until it changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# BUILD_JOBS: compile jobs (empty: one per core).
ARG BUILD_JOBS=
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DPODNETSTAT_BUILD_TESTS=OFF -DPODNETSTAT_BUILD_BENCH=OFF \
 && cmake --build /build --target podnetstat kubectl-podnetstat -j "${BUILD_JOBS:-$(nproc)}" \
 && install -D -m 0755 /build/agent/podnetstat /out/usr/bin/podnetstat \
 && install -D -m 0755 /build/agent/kubectl-podnetstat /out/usr/bin/kubectl-podnetstat \
 && install -D -m 0644 /build/agent/libpodnetstat-cri.so /out/usr/lib/podnetstat/libpodnetstat-cri.so \
 && strip --strip-unneeded /out/usr/bin/podnetstat /out/usr/bin/kubectl-podnetstat \
      /out/usr/lib/podnetstat/libpodnetstat-cri.so
# The Debian packages that hold the shared libraries the binaries and the CRI module (gRPC) link
# (ldd), for the run stage: it then follows whatever the agent links.
RUN ldd /out/usr/bin/podnetstat /out/usr/bin/kubectl-podnetstat \
      /out/usr/lib/podnetstat/libpodnetstat-cri.so \
      | awk '$2 == "=>" && $3 ~ /^\// {print $3}' \
      | xargs -r readlink -f | xargs -r dpkg -S | cut -d: -f1 | sort -u > /out/runtime-packages \
 && echo "runtime packages: $(tr '\n' ' ' < /out/runtime-packages)" \
 && test -s /out/runtime-packages

FROM debian:${DEBIAN_SUITE}-slim
ARG DEBIAN_SUITE
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="podnetstat" \
      org.opencontainers.image.description="Which pod, and which process in it, holds which socket: netstat for every network namespace of a Kubernetes node, as REST/JSON" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="debian:${DEBIAN_SUITE}-slim"
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive xargs -a /tmp/runtime-packages \
      apt-get install -y --no-install-recommends \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/runtime-packages
COPY --from=build /out/usr/bin/podnetstat /usr/bin/podnetstat
COPY --from=build /out/usr/bin/kubectl-podnetstat /usr/bin/kubectl-podnetstat
COPY --from=build /out/usr/lib/podnetstat /usr/lib/podnetstat
COPY --from=build /src/LICENSE /usr/share/doc/podnetstat/copyright
# Root: the capabilities the chart grants (SYS_PTRACE, DAC_READ_SEARCH) work for uid 0 only.
USER 0:0
# The API binds 127.0.0.1:9180 unless --listen says otherwise; 9181 is the chart's health port.
EXPOSE 9180 9181
ENTRYPOINT ["/usr/bin/podnetstat"]
CMD ["serve"]
