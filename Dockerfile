# syntax=docker/dockerfile:1
# The notification hub: one image for every role.
#   docker build -t minwon-hub .
#   docker run --rm minwon-hub demo
#   docker run -e MINWON__BROKER__URL=amqp://... minwon-hub worker --channel sms
# Configuration comes from MINWON__SECTION__KEY variables (or a TOML file named by
# MINWON_CONFIG); secrets from the environment only.

ARG PYTHON_VERSION=3.11

# --- build: install the package and its dependencies into a virtualenv -------------
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY channels ./channels
RUN /opt/venv/bin/pip install ".[postgres]" \
 && /opt/venv/bin/python -c "import hub, channels, psycopg"

# --- runtime: the virtualenv, the templates, a user without privileges -------------
FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MINWON__TEMPLATES__DIR=/app/templates \
    MINWON__METRICS__PORT=9108 \
    MINWON__LOGGING__FORMAT=json \
    MINWON__PROVIDERS__OUTBOX__DIR=/var/lib/minwon/outbox \
    MINWON__LEDGER__URL=sqlite:////var/lib/minwon/ledger.db
RUN groupadd --system --gid 10001 minwon \
 && useradd --system --uid 10001 --gid minwon --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin minwon \
 && mkdir -p /app /var/lib/minwon/outbox \
 && chown -R minwon:minwon /var/lib/minwon
COPY --from=build /opt/venv /opt/venv
COPY --chown=minwon:minwon templates /app/templates
WORKDIR /app
USER 10001:10001
EXPOSE 9108
# Healthy while the process serves its metrics (every role does, on MINWON__METRICS__PORT).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ.get('MINWON__METRICS__PORT', '9108'), timeout=3)"]
ENTRYPOINT ["minwon-hub"]
CMD ["run"]
