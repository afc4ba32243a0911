# The CDS Hooks service as a container image (docs/deployment.md, Container).
#   docker build -t cds-service --build-arg SOURCE_URL="$(git remote get-url origin)" .
#   docker run --rm -p 8080:8080 -e CDS_TRUSTED_ISSUERS='[...]' cds-service
# Configuration only through environment variables (docs/deployment.md, Configuration). It runs
# as its own user (10001) or as any UID in group 0 (OpenShift, `docker run --user 123456`).
# The replay of these steps without a Docker engine is tests/test_container.py.

# -- builder: the wheel, from the project's own files ------------------------------------------
FROM python:3.11.14-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE constraints.txt ./
COPY cds_service ./cds_service
COPY cards ./cards
COPY valuesets ./valuesets
RUN python -m pip wheel --no-deps --wheel-dir /dist .

# -- runtime: the wheel and its pinned dependencies, nothing else ------------------------------
FROM python:3.11.14-slim-bookworm AS runtime
# The repository the image is built from: docker build --build-arg SOURCE_URL=...
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="cds-service" \
      org.opencontainers.image.description="CDS Hooks 2.0 service that checks low-back-pain coding" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}"
# CDS_DATA_DIR: the SQLite feedback database and its patient hash key (unless DATABASE_URL).
# CDS_CACHE_DIR: the ICD-10-CM table built below. Both are fixed paths, not under HOME: an
# arbitrary UID runs with HOME=/ and cannot write there.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CDS_DATA_DIR=/var/lib/cds-service \
    CDS_CACHE_DIR=/var/cache/cds-service

# 1. The wheel, its dependencies at the versions in constraints.txt, and the image's user.
COPY --from=builder /dist/ /tmp/dist/
COPY --from=builder /src/constraints.txt /tmp/dist/
RUN python -m pip install --constraint /tmp/dist/constraints.txt /tmp/dist/*.whl \
    && rm -rf /tmp/dist \
    && groupadd --system --gid 10001 cds \
    && useradd --system --uid 10001 --gid cds --home-dir /home/cds --create-home \
       --shell /usr/sbin/nologin cds

# 2. The folders the service writes and reads: the compact ICD-10-CM table
#    (cds_service/terminology/codeset.py) built now into CDS_CACHE_DIR, so that a container
#    starts without parsing the CDC XML; both folders owned by the image's user and group 0 with
#    the group's rights equal to the owner's, so that any UID in group 0 can write them; the
#    table readable by every UID.
RUN mkdir -p "$CDS_DATA_DIR" "$CDS_CACHE_DIR" \
    && python -c "from cds_service.terminology import codeset; codeset.load()" \
    && chown -R 10001:0 "$CDS_DATA_DIR" "$CDS_CACHE_DIR" \
    && chmod -R g=u "$CDS_DATA_DIR" "$CDS_CACHE_DIR" \
    && chmod -R a+rX "$CDS_CACHE_DIR"

# 3. Running.
USER 10001:10001
WORKDIR $CDS_DATA_DIR
EXPOSE 8080
# The slim image has no curl: the check is Python's own urllib (exit 0 only on HTTP 200).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]
# gunicorn finishes the requests in flight on SIGTERM (CDS_GRACEFUL_TIMEOUT, 20 s by default):
# give the container longer than that to stop (docker stop -t 30; Kubernetes' default is 30 s).
STOPSIGNAL SIGTERM
CMD ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8080"]
