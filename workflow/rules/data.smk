# Fetch: put each task's raw data in the data folder (downloads need the network, so it runs locally).
# Prepare: a task file's `prepare:` step (raw archives -> the files its loader reads) runs first.


rule prepare:
    input:
        standin_stamp,
    output:
        stamp=f"{CACHE}/prepared/{{task}}.json",
    params:
        task_file=task_file,
        settings=lambda w: GRID.settings_json(w.task, "prepare"),
        data_dir=data_dir,
    log:
        f"{LOGS}/prepare/{{task}}.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "orca prepare --task {params.task_file} --data-dir {params.data_dir} --done {output.stamp} > {log} 2>&1"


rule fetch:
    input:
        prepared_stamp,
        standin_stamp,
    output:
        touch_file=f"{CACHE}/data-ready/{{task}}.ok",
    params:
        task_file=task_file,
        settings=lambda w: GRID.settings_json(w.task, "data"),
        data_dir=data_dir,
    log:
        f"{LOGS}/fetch/{{task}}.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "orca fetch --task {params.task_file} --data-dir {params.data_dir} --done {output.touch_file} > {log} 2>&1"


# fetch_<suite>: the data of every task file of one suite, e.g. `snakemake fetch_pdebench -c1`.
for _suite, _names in GRID.suites().items():

    rule:
        name:
            f"fetch_{_suite}"
        input:
            [f"{CACHE}/data-ready/{name}.ok" for name in _names],
        localrule: True
