# syntax=docker/dockerfile:1
# driftwatch image: build a wheel with its dependencies, then copy only the installed
# environment into a slim runtime image that runs as an unprivileged user.

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
    DRIFTWATCH_HTTP_HOST=0.0.0.0
RUN groupadd --system --gid 10001 driftwatch \
 && useradd --system --uid 10001 --gid driftwatch --home-dir /var/lib/driftwatch --create-home driftwatch
COPY --from=build /opt/driftwatch /opt/driftwatch
COPY configs/demo.yaml /etc/driftwatch/config.yaml
COPY examples/reference /etc/examples/reference
USER 10001:10001
WORKDIR /var/lib/driftwatch
EXPOSE 9308
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9308/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["driftwatch"]
CMD ["run", "--config", "/etc/driftwatch/config.yaml"]
