# syntax=docker/dockerfile:1
# ganhost image. Each stage runs the same Makefile targets a developer runs, so the image cannot
# drift from what CI tests (go/cmd/ganhost's tests and python/tests/test_docker.py check that).
#
#   docker build -t ganhost .
#   docker run -p 8080:8080 -e GANHOST_TOKEN=s3cret ganhost
#
# The server listens on 0.0.0.0 in the container, so it refuses to start without GANHOST_TOKEN
# (or GANHOST_INSECURE=1, which lets anyone on the network train and write versions).

# Python stage: the pinned tensorflow-cpu wheel (libtensorflow and its C headers come from it)
# and the offline datasets (npm and Debian packages, like `make data` on a workstation).
FROM python:3.11-slim-bookworm AS python
# Debian's point releases move these versions; pinning them would break the build, not secure it.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends make npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY python/requirements.lock python/pyproject.toml python/
COPY python/ganhost python/ganhost
COPY scripts scripts
RUN make venv PYTHON3=python3.11
RUN apt-get update && make data && rm -rf /var/lib/apt/lists/* data/raw

# Go stage: the Go toolchain on top of the Python stage, because scripts/tfenv.sh finds
# libtensorflow through the venv. `make bundle` builds a relocatable tree (binary with an
# $ORIGIN rpath, the two shared libraries, the shipped models and the digits).
FROM python AS build
COPY --from=golang:1.26-bookworm /usr/local/go /usr/local/go
# The Makefile's toolchain (Go 1.27.3 from the module proxy; see there), also for this download.
ENV PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=go1.27.3
COPY go.mod go.sum ./
RUN go mod download
COPY go go
COPY savedmodel savedmodel
RUN make bundle BUNDLE=/opt/ganhost

# Runtime: shared libraries, the binary, the shipped SavedModels and the data; nothing else.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/ganhost --create-home ganhost
COPY --from=build /opt/ganhost /opt/ganhost
# The model base path lives in /var/lib/ganhost (a volume in docker-compose.yml): versions
# trained in the container survive restarts and upgrades. An empty named volume is seeded
# with the shipped version 1 from the image.
COPY --from=build --chown=ganhost:ganhost /opt/ganhost/savedmodel/gan /var/lib/ganhost/gan
USER 10001
WORKDIR /var/lib/ganhost
ENV GANHOST_ADDR=0.0.0.0:8080 \
    GANHOST_MODEL_BASE=/var/lib/ganhost/gan \
    GANHOST_DATA=/opt/ganhost/data/mnist
EXPOSE 8080
VOLUME ["/var/lib/ganhost"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/ganhost/bin/ganhost", "healthcheck", "-url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/opt/ganhost/bin/ganhost"]
CMD ["serve"]
