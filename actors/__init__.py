"""The actor runtime (``actors.runtime``) and the domain actors that run on it."""
