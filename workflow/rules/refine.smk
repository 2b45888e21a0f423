# Refine: fine-tune embedder + body + head for one grid cell; baselines: classical models on the same split.
# Each job runs from its resolved settings document (orca.spec.jobs, planned by GRID.job_of); the rule passes
# it with its hash, and the job refuses to run if they disagree.
from orca.plan.grid import FIXED_RESOURCES, JOB_PATHS


rule refine:
    input:
        ready=f"{CACHE}/data-ready/{{task}}.ok",
        embedder=aligned_embedder,
    output:
        os.path.join(RESULTS, RUN_PATH),
    params:
        job=lambda w: GRID.job_of("refine", w).dumps(),
        settings_hash=lambda w: GRID.job_of("refine", w).settings_hash,
        embedder=lambda w, input: f"--embedder {embedder_file(w, input.embedder)}" if input.embedder else "",
        data_dir=data_dir,
        checkpoints=f"{CACHE}/checkpoints",
        checkpoint_every=CHECKPOINT_EVERY,
        usage=f"{RESULTS}/benchmarks/{JOB_PATHS['refine']}.usage.json",
    log:
        f"{LOGS}/{JOB_PATHS['refine']}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{JOB_PATHS['refine']}.tsv"
    threads: config.get("threads_per_job", 1)
    resources:
        mem_mb=resources_of("mem_mb"),
        runtime=resources_of("runtime_min"),
        gpu=resources_of("gpus"),
    conda:
        CONDA_ENV
    shell:
        "orca --usage-out {params.usage} refine --job {params.job:q} --settings-hash {params.settings_hash}"
        " {params.embedder} --out {output} --data-dir {params.data_dir} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --checkpoint-every {params.checkpoint_every} 2>&1 | tee {log}"


rule baseline:
    input:
        ready=f"{CACHE}/data-ready/{{task}}.ok",
    output:
        os.path.join(RESULTS, BASELINE_PATH),
    params:
        job=lambda w: GRID.job_of("baseline", w).dumps(),
        settings_hash=lambda w: GRID.job_of("baseline", w).settings_hash,
        data_dir=data_dir,
        usage=f"{RESULTS}/benchmarks/{JOB_PATHS['baseline']}.usage.json",
    log:
        f"{LOGS}/{JOB_PATHS['baseline']}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{JOB_PATHS['baseline']}.tsv"
    threads: 1
    resources:
        mem_mb=lambda w, attempt: FIXED_RESOURCES["baseline"]["mem_mb"] * attempt,
        runtime=lambda w, attempt: FIXED_RESOURCES["baseline"]["runtime_min"] * attempt,
    conda:
        CONDA_ENV
    shell:
        "orca --usage-out {params.usage} baseline --job {params.job:q} --settings-hash {params.settings_hash}"
        " --out {output} --data-dir {params.data_dir} > {log} 2>&1"
