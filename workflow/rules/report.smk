# Report: one target rule per table (table_<name>), aggregating its runs into CSV, LaTeX, Markdown, HTML and
# plots (orca.report.build_report; orca.report.report_targets lists the files). A table with a `summary` entry
# also gets results/<name>_summary.csv. Outputs flagged report() are the items of the workflow's HTML report
# (`snakemake --report reports/report.html`): one category per table, captions in workflow/report/.
import sys

from orca.report.captions import protocol_words, run_commits


include: "resources.smk"


# output key -> (caption file, subcategory) of the items shown in the HTML report
REPORT_ITEMS = {
    "html": ("../report/table.rst", "1. table"),
    "png": ("../report/figure.rst", "2. plots"),
    "profile_png": ("../report/profile.rst", "2. plots"),
    "ranks_csv": ("../report/ranks.rst", "3. across tasks"),
    "summary_csv": ("../report/summary.rst", "3. across tasks"),
    "csv": ("../report/data.rst", "4. data"),
}


def table_output_items(name):
    """build_report's files for table `name`, the report items flagged with report()."""
    items = {}
    for key, path in table_targets(name).items():
        if key in REPORT_ITEMS:
            caption, sub = REPORT_ITEMS[key]
            items[key] = report(path, caption=caption, category=name, subcategory=sub)
        else:
            items[key] = path
    return items


for _name in config["tables"]:

    rule:
        name:
            f"table_{_name}"
        input:
            runs=GRID.table_runs(_name, RESULTS),
        output:
            **table_output_items(_name),
        params:
            job=GRID.job("report", table=_name).dumps(),
            settings_hash=GRID.job("report", table=_name).settings_hash,
            results=lambda w: RESULTS,
            reports=lambda w: REPORTS,
            title=config["tables"][_name].get("title", _name),
            protocol=protocol_words(config, _name),
            seeds=", ".join(str(s) for s in config["tables"][_name]["seeds"]),
            commits=lambda w, input: run_commits(input.runs),
        log:
            f"{LOGS}/report/{_name}.log",
        localrule: True
        conda:
            CONDA_ENV
        shell:
            "orca report --job {params.job:q} --settings-hash {params.settings_hash} --results-dir {params.results}"
            " --reports-dir {params.reports} {input.runs} > {log} 2>&1"


def tables_of_this_run():
    """The tables this Snakemake run was asked for: its targets (rule names or files) or config `targets`."""
    asked = set(workflow.dag_settings.targets or ())
    if not asked or "all" in asked:
        return list(config["targets"])
    names = []
    for name in config["tables"]:
        files = set(table_outputs(name)) | set(resource_outputs(name).values())
        if {f"table_{name}", f"resources_{name}"} & asked or files & asked:
            names.append(name)
    return names


def build_partial_tables():
    """onerror (workflow/rules/warm_worker.smk): build each asked-for table whose cells partly failed from the
    runs that exist, listing the missing ones (orca.plan.failures, orca.report.missing), and its resource table.
    Rerunning the same command runs only what is missing and rebuilds the table in full."""
    import subprocess
    import tempfile

    from orca.plan.failures import missing_cells, write_missing

    for name in tables_of_this_run():
        cells = missing_cells(GRID, name, RESULTS, LOGS)
        if not cells["missing"]:
            continue  # every cell ran: a failure elsewhere (the table rule's own log says which)
        build_resource_table(GRID.table_jobs(name), name, RESULTS, REPORTS)
        present = [p for p in GRID.table_runs(name, RESULTS) if os.path.exists(p)]
        if not present:
            print(f"orca: table {name}: no cell has a run file yet; nothing to build", file=sys.stderr)
            continue
        job = GRID.job("report", table=name)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            missing_json = fh.name
        write_missing(missing_json, cells)
        log = f"{LOGS}/report/{name}.partial.log"
        os.makedirs(os.path.dirname(log), exist_ok=True)
        with open(log, "w") as out:
            done = subprocess.run(["orca", "report", "--job", job.dumps(), "--settings-hash", job.settings_hash,
                                   "--results-dir", RESULTS, "--reports-dir", REPORTS, "--missing", missing_json,
                                   *present], stdout=out, stderr=subprocess.STDOUT)
        os.unlink(missing_json)
        k, n = len(cells["missing"]), cells["planned"]
        if done.returncode == 0:
            print(f"orca: table {name} built from {n - k} of {n} cells; {k} missing, listed in "
                  f"{table_targets(name)['md']} (rerun the same command to run only those)", file=sys.stderr)
        else:
            print(f"orca: table {name}: the partial table could not be built (log: {log})", file=sys.stderr)
