# Herald in a container: built with the Swift toolchain, run on a slim Debian as a user without
# privileges. The data (SQLite, master key) lives in the /var/lib/herald volume; set
# HERALD_DATABASE_URL to use PostgreSQL instead, and HERALD_MASTER_KEY (or HERALD_MASTER_KEY_FILE,
# e.g. a mounted secret) to keep the key out of the volume.
#
#   docker build -t herald .
#   docker run -p 8080:8080 -v herald-data:/var/lib/herald herald

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-dev duktape-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a change to the sources reuses the resolved packages.
COPY Package.swift ./
RUN swift package resolve
COPY . .
RUN SWIFT_BUILD_FLAGS=--static-swift-stdlib deploy/install.sh --prefix /opt/herald

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-0 libduktape207 ca-certificates curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/herald --shell /usr/sbin/nologin herald \
    && install -d -o herald -g herald -m 0700 /var/lib/herald
COPY --from=build /opt/herald/ /usr/local/
# Numeric, so a runtime that refuses root (runAsNonRoot) can tell without reading /etc/passwd.
USER 10001:10001
# Defaults as environment, not as CMD flags: `docker run -e HERALD_PORT=9000` wins over them.
ENV HERALD_DATA_DIR=/var/lib/herald HERALD_HOST=0.0.0.0 HERALD_PORT=8080
VOLUME /var/lib/herald
EXPOSE 8080
# Ready: the database takes a write, the engine runs, the disk has room.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl --fail --silent --max-time 4 "http://127.0.0.1:${HERALD_PORT}/readyz" > /dev/null || exit 1
# SIGTERM ends open feeds, gives the attempts in flight --stop-grace-seconds (5), cuts the rest (sent
# again at the next start) and exits within 10 s: docker stop's default timeout is enough.
STOPSIGNAL SIGTERM
ENTRYPOINT ["herald"]
CMD ["serve"]
