"""Storage ports (Protocols in :mod:`storage.ports`) and one adapter module per backend."""
