# Report: one target rule per table (table_<name>), aggregating its runs into CSV, LaTeX, Markdown and plots;
# a table with a `summary` entry also gets results/<name>_summary.csv (average improvement over a reference).

for _name in config["tables"]:

    rule:
        name:
            f"table_{_name}"
        input:
            runs=GRID.table_runs(_name, RESULTS),
        output:
            table_outputs(_name),
        params:
            table=_name,
            published=f"--published {config['published_csv']}" if config.get("published_csv") else "",
            score=config["tables"][_name].get("score", "selected"),
            summary=json.dumps(config["tables"][_name].get("summary"), sort_keys=True),
        log:
            f"{LOGS}/report/{_name}.log",
        localrule: True
        shell:
            "orca report --table {params.table} --results-dir {RESULTS} --reports-dir {REPORTS}"
            " --score {params.score} --summary {params.summary:q} {params.published} {input.runs} > {log} 2>&1"
