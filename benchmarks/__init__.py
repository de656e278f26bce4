"""Comparative micro-benchmarks: wsproto6455 (both backends) beside wsproto,
websockets, aiohttp and picows. Run ``python -m benchmarks --help``."""
