# gtoken token agent image: the binary the webhook injects as /gtoken (fully
# static, plain HTTP) and /gtoken-https, which /gtoken execs only for an
# https:// --iam-endpoint (static but for glibc; see docs/agent.md). distroless
# base (glibc, CA certificates for that optional IAM Credentials path),
# non-root, no shell.
#
#   docker build -f images/agent.Dockerfile -t gtoken:dev .
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build libboost1.81-dev libboost-program-options1.81-dev \
      libyaml-cpp-dev nlohmann-json3-dev doctest-dev libssl-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGTOKEN_STATIC_DEPS=ON \
    && ninja -C /build gtoken gtoken-https \
    && strip /build/agent/gtoken /build/agent/gtoken-https

FROM gcr.io/distroless/base-nossl-debian12:nonroot
COPY --from=build /build/agent/gtoken /build/agent/gtoken-https /
USER 65532:65532
ENTRYPOINT ["/gtoken"]
