# Sizing (config/sizing.yaml, docs/sizing.md): every distinct job shape of the config measured at real size, one
# size_unit job per shape (its own process, so its peak memory is its own), then the cost of each table.
#   snakemake --configfile config/paper.yaml config/sizing.yaml -c1 --resources mem_mb=20000 cost
# Records are measurements, never results: they go to sizing_run.dir (results/sizing), the cost to reports/cost.
rule size_unit:
    output:
        f"{SIZING_DIR}/{{unit}}--{{device}}.json",
    params:
        job=lambda w: planned_units()[w.unit].job.dumps(),
        data_dir=f"{CACHE}/sizing/data",
        cache=CACHE,
    log:
        f"{LOGS}/sizing/{{unit}}--{{device}}.log",
    threads: config.get("threads_per_job", 1)
    resources:
        mem_mb=SIZING_RUN.get("mem_mb", 20000),
        runtime=SIZING_RUN.get("runtime_min", 60),
        gpu=lambda w: 1 if w.device == "cuda" else 0,
    wildcard_constraints:
        device="cpu|cuda",
    conda:
        CONDA_ENV
    shell:
        "orca size-unit --job {params.job:q} --out {output} --data-dir {params.data_dir} --cache-dir {params.cache}"
        " --device {wildcards.device} --threads {threads} > {log} 2>&1"


rule cost:
    input:
        sizing_records,
    output:
        md=f"{REPORTS}/cost/cost.md",
        csv=f"{REPORTS}/cost/cost.csv",
        jobs=f"{REPORTS}/cost/cost_jobs.csv",
        plot=f"{REPORTS}/cost/cost.png",
    log:
        f"{LOGS}/sizing/cost.log",
    run:
        from orca.sizing.cost import write_cost; write_cost(GRID, None, SIZING_DIR, os.path.dirname(output.md), log=log[0])
