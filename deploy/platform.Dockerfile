# The Podium platform image for compose.yaml: the same offline base image Spaces build
# from (`podium base-image build`), plus git, redis-server, nginx (with its Lua module, for
# the nginx-lua data plane), iptables (the worker and scheduler firewall the Spaces' and
# builds' bridges) and the podium package.
#
#   cp /etc/ssl/certs/ca-certificates.crt deploy/extra-ca.crt    # behind a TLS-intercepting proxy
#   docker build -f deploy/platform.Dockerfile -t podium/platform .
#
# deploy/extra-ca.crt (gitignored, optional) is the CA bundle pip trusts while it installs;
# only the build uses it. (The classic builder, as Debian's docker.io and docker-compose 1.29
# use it: no BuildKit secrets.)
#
# Layers go from the least to the most often changed: Debian packages, then the Python
# dependencies (read from pyproject.toml alone), then podium's own code, so a code change
# rebuilds only the last, small layer.
ARG BASE_IMAGE=podium/base:bookworm
FROM ${BASE_IMAGE}
USER root
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       git git-lfs redis-server ca-certificates iptables nginx-light libnginx-mod-http-lua \
    && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/podium PATH=/opt/podium/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN python3 -m venv /opt/podium
# The glob lets extra-ca.crt be missing (pyproject.toml always matches).
COPY pyproject.toml deploy/extra-ca.cr[t] /build/
# One requirement a line (xargs): "uvicorn[standard]" must not meet the shell's globbing.
RUN if [ -s /build/extra-ca.crt ]; then export PIP_CERT=/build/extra-ca.crt; fi \
    && /opt/podium/bin/python -c 'import tomllib; p = tomllib.load(open("/build/pyproject.toml", "rb")); \
print("\n".join(p["build-system"]["requires"] + p["project"]["dependencies"]))' \
    | xargs -d '\n' /opt/podium/bin/pip install -q \
    && rm -rf /build
COPY . /src
# Everything it needs is installed: no index, no build isolation.
RUN /opt/podium/bin/pip install -q --no-deps --no-build-isolation --no-index /src \
    && rm -rf /src
ENV PODIUM_DATA_DIR=/data HOME=/root
WORKDIR /
VOLUME /data
