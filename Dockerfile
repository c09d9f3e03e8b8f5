# Multi-stage image for hookd, deployd and the deploy CLI (select with --target).
# Not built in CI (no Docker engine on the build machines); kept for operators.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/bootstrap scripts/bootstrap
RUN scripts/bootstrap
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDEPLOY_BUILD_TESTS=OFF \
 && cmake --build build --target hookd deployd deploy

FROM debian:12-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates libgrpc++1.51 libprotobuf32 libpqxx-6.4 libyaml-cpp0.7 libspdlog1.10 \
      libboost-url1.81.0 libssl3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app

FROM runtime AS hookd
COPY --from=build /src/build/bin/hookd /app/hookd
CMD ["/app/hookd"]

FROM runtime AS deployd
COPY --from=build /src/build/bin/deployd /app/deployd
CMD ["/app/deployd"]

FROM runtime AS deploy
COPY --from=build /src/build/bin/deploy /app/deploy
ENTRYPOINT ["/app/deploy"]
