# gtoken-operator image: build on Debian 12 with the same packages as CI,
# link everything but glibc statically, and ship the binary alone on a
# distroless base without shell or package manager, as a non-root user.
#
#   docker build -f images/operator.Dockerfile -t gtoken-operator:dev .
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build libboost1.81-dev libboost-program-options1.81-dev \
      libyaml-cpp-dev nlohmann-json3-dev doctest-dev libssl-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGTOKEN_STATIC_DEPS=ON \
    && ninja -C /build gtoken-operator \
    && strip /build/cmd/gtoken-operator/gtoken-operator

FROM gcr.io/distroless/base-nossl-debian12:nonroot
COPY --from=build /build/cmd/gtoken-operator/gtoken-operator /gtoken-operator
USER 65532:65532
ENTRYPOINT ["/gtoken-operator"]
