"""Internals of the deterministic sample-city generator (see ``loaders.sample_city``)."""
