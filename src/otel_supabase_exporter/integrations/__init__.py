"""Integrations with the caches Python services run: hit/miss metrics and spans without writing an
adapter. Each needs its library installed (none is a dependency of this package)."""
