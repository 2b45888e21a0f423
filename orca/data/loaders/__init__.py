"""Loaders, one per on-disk format; each registers itself in ``orca.data.core.LOADERS`` on import."""
