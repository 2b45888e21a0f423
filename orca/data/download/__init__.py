"""Making raw data local: checksummed, resumable downloads (pooch) and the manifest of a task's files."""
