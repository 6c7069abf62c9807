# The workers' image (docker-compose.kafka.yml): automate installed from its own wheel, which carries
# schemas/ and infra/ (the contracts, the connector's settings), with the extras every worker needs.
#   docker build -t automate:local .
#   docker run --rm automate:local --help
# The project's tests and demo never use it: `automate up` runs everything as local processes.

FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core core
COPY producers producers
COPY rules rules
COPY processors processors
COPY connectors connectors
COPY llm llm
COPY rag rag
COPY runtime runtime
COPY ops ops
COPY schemas schemas
COPY infra infra
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
COPY --from=wheel /wheels /wheels
# (the `runtime` extra is the widest: Kafka, the connectors, LLM, RAG, serve; the processors need a subset)
RUN wheel="$(ls /wheels/automate-*.whl)" \
 && pip install --no-cache-dir "automate[runtime] @ file://${wheel}" \
 && rm -rf /wheels \
 && useradd --system --uid 10001 --home-dir /var/lib/automate --create-home automate
USER automate
WORKDIR /var/lib/automate
# Metrics on every interface of the container (each worker's --metrics-port); state (the LLM cache, the
# embedded vector store) under the home.
ENV AUTOMATE_HOME=/var/lib/automate \
    AUTOMATE_METRICS_ADDRESS=0.0.0.0 \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["automate"]
CMD ["--help"]
