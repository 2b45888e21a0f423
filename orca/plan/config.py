"""The workflow's config as Snakemake reads it, for commands that plan outside Snakemake (bundle, export).

:func:`load_config` merges ``config/config.yaml`` and each ``--configfile`` like Snakemake (later files win,
``snakemake.utils.update_config``) and validates the result against the workflow's schema, defaults filled in.
:func:`planning_config` is the copy ``Grid`` plans from: a relative task folder or published CSV that is not
under the working directory but is one of this project's own files is found beside its Snakefile
(:func:`own_file`; the workflow's ``common.smk`` plans from the same copy, so both give the same settings
hashes).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ConfigFileError", "ORCA_DIR", "default_config_path", "load_config", "own_file", "planning_config"]

#: The project's own folder (the Snakefile's) when orca runs from a clone; None when installed elsewhere.
_ROOT = Path(__file__).resolve().parents[2]
ORCA_DIR: Path | None = _ROOT if (_ROOT / "Snakefile").is_file() else None


class ConfigFileError(ValueError):
    """A config file that cannot be read or does not match the schema; the message names it and the fix."""


def default_config_path() -> Path:
    """The workflow's default config (``config/config.yaml`` beside the Snakefile; the current folder's when the
    package is installed elsewhere)."""
    return ORCA_DIR / "config" / "config.yaml" if ORCA_DIR else Path("config") / "config.yaml"


def load_config(configfiles: list[str | Path] | None = None, default: str | Path | None = None) -> dict:
    """The config Snakemake would run with: ``default`` (:func:`default_config_path`), then each of
    ``configfiles`` merged over it (as ``--configfile``), validated against the workflow's schema with its
    defaults filled in. ConfigFileError for a file that cannot be read or a config the workflow would refuse."""
    import yaml
    from snakemake.utils import update_config, validate

    config: dict = {}
    files = [Path(default) if default is not None else default_config_path()] + [Path(f) for f in configfiles or []]
    for path in files:
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as err:
            raise ConfigFileError(f"--configfile {path}: cannot read it ({err.strerror or err}); give the config "
                                  "the table was built with (e.g. config/paper.yaml)") from None
        except yaml.YAMLError as err:
            raise ConfigFileError(f"--configfile {path}: not YAML ({err})") from None
        if loaded is None:
            continue
        if not isinstance(loaded, dict):
            raise ConfigFileError(f"--configfile {path}: not a mapping of config keys")
        update_config(config, loaded)
    schema = (ORCA_DIR or _ROOT) / "workflow" / "schemas" / "config.schema.yaml"
    if schema.is_file():
        try:
            validate(config, str(schema))
        except Exception as err:  # snakemake's WorkflowError: a config the workflow would refuse too
            raise ConfigFileError(f"the config ({', '.join(map(str, files))}) does not match the workflow's "
                                  f"schema: {err}") from None
    else:  # the keys Grid reads that the schema would default
        config.setdefault("overrides", {})
        config.setdefault("data_dir", None)
    return config


def own_file(path: str | None, orca_dir: str | Path | None = ORCA_DIR) -> str | None:
    """``path`` as the workflow plans with it: a relative path that does not exist under the working directory
    but does beside the Snakefile (``orca_dir``) becomes that file; anything else is left as written."""
    if not path or orca_dir is None or os.path.isabs(path) or os.path.exists(path):
        return path
    own = os.path.join(orca_dir, path)
    return own if os.path.exists(own) else path


def planning_config(config: dict, orca_dir: str | Path | None = ORCA_DIR) -> dict:
    """The config ``Grid`` is built from: its task folders and published CSV through :func:`own_file`."""
    return {**config, "benchmarks": [own_file(b, orca_dir) for b in config["benchmarks"]],
            "published_csv": own_file(config.get("published_csv"), orca_dir)}
