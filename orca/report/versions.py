"""Which rows of a table came from a different code version than the rest.

A run record's code version (:func:`code_version_of`) is its ``settings.code`` (the stage's code hash,
``orca.spec.code_version.stage_code_hash``, which records carry when config ``cache_key: settings+code`` is
on), else the commit of its provenance (``provenance.git_commit``). Each stage hashes its own code, so a
refine run and a baseline run of the same checkout carry different hashes: versions are compared among the
runs of one stage (:func:`stage_of`), never across stages.

:func:`version_note` is the paragraph the report prints under a table whose runs of one stage mix versions
(None when they do not); :func:`version_note_latex` the same for the LaTeX caption; :func:`with_markdown_note`
and :func:`with_latex_note` put them into rendered outputs.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

__all__ = ["code_version_of", "stage_of", "version_groups", "version_note", "version_note_latex",
           "with_latex_note", "with_markdown_note"]

#: At most this many runs are named per version; the rest are counted ("and M more").
MAX_NAMED = 10


def code_version_of(record: dict) -> str | None:
    """``settings.code`` when the record has one, else ``provenance.git_commit``; None when it has neither."""
    code = (record.get("settings") or {}).get("code")
    if code:
        return str(code)
    commit = (record.get("provenance") or {}).get("git_commit")
    return str(commit) if commit else None


def stage_of(record: dict, run_file: str | Path | None = None) -> str:
    """``baseline`` for a baseline's record (its settings name a ``baseline``, its backbone is ``-`` or its file
    lies under ``baselines/``), else ``refine``."""
    settings = record.get("settings") or {}
    in_baselines = run_file is not None and "baselines" in Path(run_file).parts
    return "baseline" if "baseline" in settings or record.get("backbone") == "-" or in_baselines else "refine"


def _shown(record: dict) -> str:
    """How the note names a version: ``code <hash>``, ``commit <12 hex>`` or ``unknown``."""
    version = code_version_of(record)
    if version is None:
        return "unknown"
    if (record.get("settings") or {}).get("code"):
        return f"code `{version}`"
    return f"commit `{version[:12]}`"


def _run_label(record: dict, run_file) -> str:
    parts = [record.get(k) for k in ("task", "method", "seed")]
    if any(p is None for p in parts):
        return f"`{run_file}`"
    return "/".join(str(p) for p in parts)


def version_groups(records: list[dict], run_files: list[str]) -> dict[str, list[tuple[str, list[str]]]]:
    """stage -> [(version as shown, run labels sorted)], the stage's majority version first (ties: by name),
    for the stages whose runs mix versions; {} when none does. ``run_files``: the records' files, in order."""
    if len(records) != len(run_files):
        raise ValueError(f"version_groups: {len(records)} records but {len(run_files)} run files")
    by_stage: dict[str, dict[str, list]] = {}
    for record, run_file in zip(records, run_files):
        stage = by_stage.setdefault(stage_of(record, run_file), {})
        seed = record.get("seed")
        key = (str(record.get("task") or ""), str(record.get("method") or ""),
               seed if isinstance(seed, int) else -1, str(run_file))
        stage.setdefault(_shown(record), []).append((key, _run_label(record, run_file)))
    out = {}
    for stage in sorted(by_stage):
        versions = by_stage[stage]
        if len(versions) < 2:
            continue
        counts = Counter({v: len(runs) for v, runs in versions.items()})
        order = sorted(counts, key=lambda v: (-counts[v], v))
        out[stage] = [(v, [label for _, label in sorted(versions[v])]) for v in order]
    return out


def _runs_words(labels: list[str]) -> str:
    named = ", ".join(labels[:MAX_NAMED])
    more = f" and {len(labels) - MAX_NAMED} more" if len(labels) > MAX_NAMED else ""
    return f"{len(labels)} run{'s' if len(labels) != 1 else ''}: {named}{more}"


def _sentences(groups, code=lambda s: s, plain=lambda s: s) -> str:
    qualify = len(groups) > 1
    out = []
    for stage, versions in groups.items():
        (table_version, table_runs), others = versions[0], versions[1:]
        head = f"{stage.capitalize()} rows" if qualify else "Rows"
        parts = [f"{code(table_version)} (this table's, {len(table_runs)} run{'s' if len(table_runs) != 1 else ''})"]
        parts += [f"{code(v)} ({plain(_runs_words(labels))})" for v, labels in others]
        out.append(f"{head} from {len(versions)} code versions: {', '.join(parts)}.")
    return " ".join(out)


def version_note(records: list[dict], run_files: list[str]) -> str | None:
    """A short Markdown paragraph naming, per stage, the table's (majority) code version and the runs of the
    others; None when the runs of every stage share one version. ``run_files``: the records' files, in order."""
    groups = version_groups(records, run_files)
    return _sentences(groups) if groups else None


def version_note_latex(records: list[dict], run_files: list[str]) -> str | None:
    """:func:`version_note` as LaTeX text (for a caption); None when that is None."""
    from .tables import tex_escape

    groups = version_groups(records, run_files)
    if not groups:
        return None

    def code(shown: str) -> str:  # "code `abc`" -> code \texttt{abc}
        words, _, rest = shown.partition(" `")
        return f"{tex_escape(words)} \\texttt{{{tex_escape(rest.rstrip('`'))}}}" if rest else tex_escape(words)

    return _sentences(groups, code=code, plain=lambda s: tex_escape(s.replace("`", "")))


def with_markdown_note(markdown: str, note: str | None) -> str:
    """``markdown`` with ``note`` as a paragraph after its first ``Provenance:`` line (at the end without one)."""
    if not note:
        return markdown
    lines = markdown.split("\n")
    at = next((i for i, line in enumerate(lines) if line.startswith("Provenance:")), None)
    if at is None:
        return markdown.rstrip("\n") + "\n\n" + note + "\n"
    return "\n".join(lines[: at + 1] + ["", note] + lines[at + 1:])


def with_latex_note(latex: str, note: str | None) -> str:
    """``latex`` with ``note`` appended to its first one-line ``\\caption{...}`` (a ``%`` comment line at the top
    without one)."""
    if not note:
        return latex
    lines = latex.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("\\caption{") and line.endswith("}"):
            lines[i] = line[:-1] + " " + note + "}"
            return "\n".join(lines)
    return "% " + note.replace("\n", " ") + "\n" + latex
