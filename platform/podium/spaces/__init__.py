"""The Space model: front matter (SpaceConfig), stages, SDK detection. Knows nothing of Docker."""
