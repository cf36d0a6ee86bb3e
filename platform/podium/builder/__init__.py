"""Turning a Space checkout into a container image: the base image, ordered SDK build
packs rendering runners/<sdk>/Dockerfile.j2, and streaming builds on the Docker engine.

Entry points: ``podium.builder.build.build_space_image`` (called by the build job) and
``podium.builder.base_image.ensure_base_image`` (``podium base-image build``).
"""
