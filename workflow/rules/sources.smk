# Source features: one cached artifact per backbone, reused by every task and aligner.


rule source_features:
    output:
        f"{CACHE}/sources/{{backbone}}.npz",
    params:
        origin=lambda w: GRID.source_args(w.backbone),
    log:
        f"{LOGS}/sources/{{backbone}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/sources/{{backbone}}.tsv"
    threads: config.get("threads_per_job", 1)
    resources:
        mem_mb=lambda w, attempt: 4000 * attempt,
        runtime=lambda w, attempt: 60 * attempt,
    shell:
        "orca sources --backbone {wildcards.backbone} --out {output} --threads {threads} {params.origin} > {log} 2>&1"
