# The Podium platform image for compose.yaml: the same offline base image Spaces build
# from (`podium base-image build`), plus git, redis-server, nginx (with its Lua module, for
# the nginx-lua data plane) and the podium wheel.
#   docker build -f deploy/platform.Dockerfile -t podium/platform .
ARG BASE_IMAGE=podium/base:bookworm
FROM ${BASE_IMAGE}
USER root
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       git redis-server ca-certificates iptables nginx-light libnginx-mod-http-lua \
    && rm -rf /var/lib/apt/lists/*
# Behind a TLS-intercepting proxy, put the bundle that trusts it at deploy/extra-ca.crt
# (gitignored): pip uses it for this build only.
COPY . /src
RUN if [ -f /src/deploy/extra-ca.crt ]; then export PIP_CERT=/src/deploy/extra-ca.crt; fi \
    && python3 -m venv /opt/podium && /opt/podium/bin/pip install -q /src && rm -rf /src
ENV PATH=/opt/podium/bin:$PATH PODIUM_DATA_DIR=/data
VOLUME /data
