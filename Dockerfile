# syntax=docker/dockerfile:1
# The notification hub: one image for every role.
#   docker build -t minwon-hub .
#   docker run --rm -e MINWON__HUB__ENVIRONMENT=development minwon-hub demo
#   docker run -e MINWON__BROKER__URL=amqp://... minwon-hub worker --channel sms
# Configuration comes from MINWON__SECTION__KEY variables (or a TOML file named by
# MINWON_CONFIG); secrets from the environment only. The image runs in production mode
# ([hub] environment = "production"): the outbox provider, simulated recipients and the
# development hash key are refused at start-up (`minwon-hub config check` tells why).

ARG PYTHON_VERSION=3.11

# --- build: install the package and its dependencies into a virtualenv -------------
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies from the lock file, every file checked against its hash (`make lock`).
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY channels ./channels
COPY clients/python ./clients/python
# the shipped templates go into the package too (hub/notice_templates links to them)
COPY templates ./templates
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/python -c "import hub, channels, minwon_client, psycopg, redis"

# --- runtime: the virtualenv, the templates, a user without privileges -------------
FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MINWON__HUB__ENVIRONMENT=production \
    MINWON__TEMPLATES__DIR=/app/templates \
    MINWON__METRICS__PORT=9108 \
    MINWON__LOGGING__FORMAT=json \
    MINWON__PROVIDERS__SENS__RECORD_DIR=/var/lib/minwon/records \
    MINWON__PROVIDERS__SES__RECORD_DIR=/var/lib/minwon/records \
    MINWON__PROVIDERS__SMTP__RECORD_DIR=/var/lib/minwon/records \
    MINWON__LEDGER__URL=sqlite:////var/lib/minwon/ledger.db
RUN groupadd --system --gid 10001 minwon \
 && useradd --system --uid 10001 --gid minwon --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin minwon \
 && mkdir -p /app /var/lib/minwon/records \
 && chown -R minwon:minwon /var/lib/minwon
COPY --from=build /opt/venv /opt/venv
COPY --chown=minwon:minwon templates /app/templates
WORKDIR /app
USER 10001:10001
EXPOSE 9108
# Healthy while ready (/readyz: connected to the broker, consuming, acks advancing when
# messages wait, the ledger answering; every role serves it on MINWON__METRICS__PORT).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('MINWON__METRICS__PORT', '9108'), timeout=4)"]
ENTRYPOINT ["minwon-hub"]
CMD ["run"]
