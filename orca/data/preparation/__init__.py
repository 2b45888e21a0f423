"""Preparation steps (raw archives -> the files a loader reads), registered in ``prepare.PREPARERS``."""
