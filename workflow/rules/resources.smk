# Resources: per table, what each of its jobs used (Snakemake benchmark TSVs + the jobs' own --usage-out figures)
# beside what it asked for: results/<table>_resources.csv and reports/<table>_resources.md (orca.report.resources).
from orca.report.resources import build_resource_table


for _name in config["tables"]:

    rule:
        name:
            f"resources_{_name}"
        input:
            [f"{RESULTS}/benchmarks/{job['path']}.tsv" for job in GRID.table_jobs(_name)],
        output:
            csv=report(resource_outputs(_name)["csv"], caption="../report/resources.rst", category=_name,
                       subcategory="5. resources"),
            md=resource_outputs(_name)["md"],
        params:
            table=_name,
        log:
            f"{LOGS}/resources/{_name}.log",
        localrule: True
        run:
            build_resource_table(GRID.table_jobs(params.table), params.table, RESULTS, REPORTS, log=log[0])
