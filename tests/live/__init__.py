"""Live tests against a real llama.cpp ``llama-server`` (``nox -s live``)."""
