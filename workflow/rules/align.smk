# Align: train the embedder of (task, backbone) towards the source features with one align method.
# Each job runs from its resolved settings document (orca.spec.jobs, planned by GRID.job_of): the task's
# sections align reads, the mode and the job's identity. Its hash is the cache key: refine settings never rerun it.
from orca.plan.grid import JOB_PATHS


rule align:
    input:
        ready=f"{CACHE}/data-ready/{{task}}.ok",
        source=f"{CACHE}/sources/{{backbone}}.npz",
        embeddings=f"{CACHE}/sources/{{backbone}}.embeddings.pt",
    output:
        embedder=os.path.join(CACHE, ALIGN_DIR, "embedder.pt"),
        record=os.path.join(CACHE, ALIGN_DIR, "align.json"),
    params:
        job=lambda w: GRID.job_of("align", w).dumps(),
        settings_hash=lambda w: GRID.job_of("align", w).settings_hash,
        data_dir=data_dir,
        checkpoints=f"{CACHE}/checkpoints",
        checkpoint_every=CHECKPOINT_EVERY,
        usage=f"{RESULTS}/benchmarks/{JOB_PATHS['align']}.usage.json",
    log:
        f"{LOGS}/{JOB_PATHS['align']}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{JOB_PATHS['align']}.tsv"
    threads: config.get("threads_per_job", 1)
    resources:
        mem_mb=resources_of("mem_mb"),
        runtime=resources_of("runtime_min"),
        gpu=resources_of("gpus"),
    conda:
        CONDA_ENV
    shell:
        "orca --usage-out {params.usage} align --job {params.job:q} --settings-hash {params.settings_hash}"
        " --source {input.source} --embeddings {input.embeddings} --out-dir $(dirname {output.embedder})"
        " --data-dir {params.data_dir} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} --checkpoint-every {params.checkpoint_every} 2>&1 | tee {log}"
