"""The edge: a thin aiohttp app that turns REST calls into bus requests.

It authenticates, validates, maps a request to a bus message and the reply back to HTTP
(RFC 9457 problem details for errors). It imports ``bus`` and nothing else of ours.
"""
