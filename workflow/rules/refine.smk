# Refine: fine-tune embedder + body + head for one grid cell; baselines: classical models on the same split.


def aligned_embedder(wildcards):
    if not GRID.trains_embedder(wildcards.aligner):
        return []
    w = wildcards
    return f"{CACHE}/align/{w.task}/{w.backbone}/{w.aligner}/{w.protocol}/seed{w.seed}/embedder.pt"


rule refine:
    input:
        ready=f"{CACHE}/data-ready/{{task}}.ok",
        embedder=aligned_embedder,
    output:
        f"{RESULTS}/runs/{{task}}/{{backbone}}/{{aligner}}/{{protocol}}/seed{{seed}}.json",
    params:
        task_file=task_file,
        settings=lambda w: GRID.settings_json(w.task, "refine"),
        overrides=lambda w: GRID.overrides_json("refine"),
        embedder=lambda w, input: f"--embedder {input.embedder}" if input.embedder else "",
        data_dir=DATA_DIR,
        checkpoints=f"{CACHE}/checkpoints",
    log:
        f"{LOGS}/refine/{{task}}/{{backbone}}/{{aligner}}/{{protocol}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/refine/{{task}}/{{backbone}}/{{aligner}}/{{protocol}}/seed{{seed}}.tsv"
    threads: config.get("threads_per_job", 1)
    resources:
        mem_mb=resources_of("mem_mb"),
        runtime=resources_of("runtime_min"),
        gpu=resources_of("gpus"),
    shell:
        "orca refine --task {params.task_file} --backbone {wildcards.backbone} --aligner {wildcards.aligner}"
        " --seed {wildcards.seed} --protocol {wildcards.protocol} {params.embedder} --out {output} --data-dir {params.data_dir}"
        " --overrides {params.overrides:q} --threads {threads}"
        " --checkpoint-dir {params.checkpoints} 2>&1 | tee {log}"


rule baseline:
    input:
        ready=f"{CACHE}/data-ready/{{task}}.ok",
    output:
        f"{RESULTS}/baselines/{{task}}/{{method}}/seed{{seed}}.json",
    params:
        task_file=task_file,
        settings=lambda w: GRID.settings_json(w.task, "baseline"),
        overrides=lambda w: GRID.overrides_json("baseline"),
        data_dir=DATA_DIR,
    log:
        f"{LOGS}/baseline/{{task}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/baseline/{{task}}/{{method}}/seed{{seed}}.tsv"
    threads: 1
    resources:
        mem_mb=lambda w, attempt: 2000 * attempt,
        runtime=lambda w, attempt: 30 * attempt,
    shell:
        "orca baseline --task {params.task_file} --method {wildcards.method} --seed {wildcards.seed}"
        " --out {output} --data-dir {params.data_dir} --overrides {params.overrides:q} > {log} 2>&1"
