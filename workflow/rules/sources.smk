# Source features: one cached artifact per backbone, reused by every task and aligner, with the body's
# input-embedding tensors that every align job initialises its embedder from (no body load there).
from orca.plan.grid import FIXED_RESOURCES, JOB_PATHS


rule source_features:
    output:
        features=f"{CACHE}/sources/{{backbone}}.npz",
        embeddings=f"{CACHE}/sources/{{backbone}}.embeddings.pt",
    params:
        job=lambda w: GRID.job_of("sources", w).dumps(),
        settings_hash=lambda w: GRID.job_of("sources", w).settings_hash,
        data_dir=data_dir,
        usage=f"{RESULTS}/benchmarks/{JOB_PATHS['sources']}.usage.json",
    log:
        f"{LOGS}/{JOB_PATHS['sources']}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{JOB_PATHS['sources']}.tsv"
    threads: config.get("threads_per_job", 1)
    resources:
        mem_mb=lambda w, attempt: FIXED_RESOURCES["sources"]["mem_mb"] * attempt,
        runtime=lambda w, attempt: FIXED_RESOURCES["sources"]["runtime_min"] * attempt,
    conda:
        CONDA_ENV
    shell:
        "orca --usage-out {params.usage} sources --job {params.job:q} --settings-hash {params.settings_hash} --out {output.features}"
        " --embeddings-out {output.embeddings} --data-dir {params.data_dir} --threads {threads} > {log} 2>&1"
