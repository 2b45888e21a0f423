# Report: one target rule per table (table_<name>), aggregating its runs into CSV, LaTeX, Markdown, HTML and
# plots (orca.report.build_report; orca.report.report_targets lists the files). A table with a `summary` entry
# also gets results/<name>_summary.csv. Outputs flagged report() are the items of the workflow's HTML report
# (`snakemake --report reports/report.html`): one category per table, captions in workflow/report/.
from orca.report.captions import protocol_words, run_commits

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
