# The CDS Hooks service as a container image.
#   docker build -t cds-service .
#   docker run --rm -p 8080:8080 -e CDS_TRUSTED_ISSUERS='[...]' cds-service
# Configuration only through environment variables (README, Deployment). The replay of these
# steps without a Docker engine is tests/test_container.py.

# -- builder: the wheel, from the project's own files ------------------------------------------
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
COPY cards ./cards
COPY valuesets ./valuesets
RUN python -m pip wheel --no-deps --wheel-dir /dist .

# -- runtime: the wheel and its dependencies, nothing else -------------------------------------
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=builder /dist/ /tmp/dist/
RUN python -m pip install /tmp/dist/*.whl \
    && rm -rf /tmp/dist \
    && groupadd --system --gid 10001 cds \
    && useradd --system --uid 10001 --gid cds --home-dir /home/cds --create-home \
       --shell /usr/sbin/nologin cds
USER 10001:10001
WORKDIR /home/cds
# The compact ICD-10-CM table (cds_service/terminology/codeset.py), cached at build time in the
# user's cache folder, so that a container starts without parsing the CDC XML.
RUN python -c "from cds_service.terminology import codeset; codeset.load()"
EXPOSE 8080
# python:3.11-slim has no curl: the check is Python's own urllib (exit 0 only on HTTP 200).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]
# gunicorn finishes the requests in flight on SIGTERM (CDS_GRACEFUL_TIMEOUT, 20 s by default):
# give the container longer than that to stop (docker stop -t 30; Kubernetes' default is 30 s).
STOPSIGNAL SIGTERM
CMD ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8080"]
