"""The bus: message contracts, subjects and NATS helpers shared by every process.

Nothing here imports another perkbus package; the edge, the actors and the storage
adapters all speak in the types defined here.
"""
