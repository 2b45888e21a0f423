# Align: train the embedder of (task, backbone) towards the source features with one aligner.
# Keyed on task, backbone, aligner, evaluation protocol (orca/spec/protocols.py), seed and the align settings (params)
# only: refine settings never rerun it.


rule align:
    input:
        ready=f"{CACHE}/data-ready/{{task}}.ok",
        source=f"{CACHE}/sources/{{backbone}}.npz",
        embeddings=f"{CACHE}/sources/{{backbone}}.embeddings.pt",
    output:
        embedder=os.path.join(CACHE, ALIGN_DIR, "embedder.pt"),
        record=os.path.join(CACHE, ALIGN_DIR, "align.json"),
    params:
        task_file=task_file,
        settings=lambda w: GRID.settings_json(w.task, "align"),
        overrides=lambda w: GRID.overrides_json("align"),
        data_dir=data_dir,
        checkpoints=f"{CACHE}/checkpoints",
    log:
        f"{LOGS}/align/{{task}}/{{backbone}}/{{aligner}}/{{protocol}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/align/{{task}}/{{backbone}}/{{aligner}}/{{protocol}}/seed{{seed}}.tsv"
    threads: config.get("threads_per_job", 1)
    resources:
        mem_mb=resources_of("mem_mb"),
        runtime=resources_of("runtime_min"),
        gpu=resources_of("gpus"),
    conda:
        CONDA_ENV
    shell:
        "orca align --task {params.task_file} --backbone {wildcards.backbone} --aligner {wildcards.aligner}"
        " --seed {wildcards.seed} --protocol {wildcards.protocol} --source {input.source} --embeddings {input.embeddings} --out-dir $(dirname {output.embedder})"
        " --data-dir {params.data_dir} --overrides {params.overrides:q} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} 2>&1 | tee {log}"
