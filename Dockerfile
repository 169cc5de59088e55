# syntax=docker/dockerfile:1
# driftwatch image: build a wheel with its dependencies, then copy only the installed
# environment into a slim runtime image that runs as an unprivileged user.
#
# The root filesystem can be read-only. The daemon writes only its state, in the volume
# /var/lib/driftwatch (DRIFTWATCH_STATE_PATH, which the config's state.path reads), and temporary
# files in /tmp (scaled out with labels, the label join); no bytecode is written at run time
# (PYTHONDONTWRITEBYTECODE). tests/integration/test_written_paths.py proves the list. Run it with:
#   docker run --read-only --tmpfs /tmp -v driftwatch-state:/var/lib/driftwatch -p 9308:9308 \
#     -e DRIFTWATCH_KAFKA_BOOTSTRAP=kafka:9092 -e DRIFTWATCH_DEMO_WEBHOOK_SECRET=... driftwatch
# Mount your own config at /etc/driftwatch/config.yaml (the HEALTHCHECK reads its http section).

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/driftwatch \
 && /opt/driftwatch/bin/pip install --no-cache-dir ".[confluent]"

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="driftwatch" \
      org.opencontainers.image.description="Drift, data quality and performance monitoring for deployed ML models"
ENV PATH=/opt/driftwatch/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    DRIFTWATCH_HTTP_HOST=0.0.0.0 DRIFTWATCH_STATE_PATH=/var/lib/driftwatch/driftwatch-state.sqlite
# lightgbm (the domain classifier and DLE) links the system's OpenMP runtime, which slim images lack
# (pinned to bookworm's version; update it with the base image)
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1=12.2.0-14+deb12u1 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 driftwatch \
 && useradd --system --uid 10001 --gid driftwatch --home-dir /var/lib/driftwatch --create-home driftwatch
COPY --from=build /opt/driftwatch /opt/driftwatch
COPY configs/demo.yaml /etc/driftwatch/config.yaml
COPY examples/reference /etc/examples/reference
USER 10001:10001
WORKDIR /var/lib/driftwatch
VOLUME ["/var/lib/driftwatch"]
EXPOSE 9308
# /healthz where the config's http section says: its port, over TLS verified against its certificate
# when http.web_config_file serves TLS (a plain-HTTP probe would fail), with basic auth if probes need it
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["driftwatch", "health", "--config", "/etc/driftwatch/config.yaml"]
ENTRYPOINT ["driftwatch"]
CMD ["run", "--config", "/etc/driftwatch/config.yaml"]
