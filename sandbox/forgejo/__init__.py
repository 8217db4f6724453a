"""Forgejo test double internals; the public entry point is `sandbox.forgejo_double`."""
