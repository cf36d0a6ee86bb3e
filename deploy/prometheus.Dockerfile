# Prometheus for compose.yaml's `metrics` profile: Debian's prometheus package on the same
# offline base image as the platform (no registry needed), scraping the API's metrics
# listener (deploy/prometheus.yml). Built by `docker-compose --profile metrics up -d`.
ARG BASE_IMAGE=podium/base:bookworm
FROM ${BASE_IMAGE}
USER root
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       prometheus \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus && chown prometheus:prometheus /prometheus
COPY prometheus.yml /etc/prometheus/prometheus.yml
USER prometheus
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml", \
            "--storage.tsdb.path=/prometheus", "--web.listen-address=0.0.0.0:9090"]
