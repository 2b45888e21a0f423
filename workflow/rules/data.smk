# Fetch: put each task's raw data in the data folder (downloads need the network, so it runs locally).
# Prepare: a task file's `prepare:` step (raw archives -> the files its loader reads) runs first.


rule prepare:
    input:
        standin_stamp,
    output:
        stamp=f"{CACHE}/prepared/{{task}}.json",
    params:
        job=lambda w: GRID.job_of("prepare", w).dumps(),
        settings_hash=lambda w: GRID.job_of("prepare", w).settings_hash,
        data_dir=data_dir,
    log:
        f"{LOGS}/prepare/{{task}}.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "orca prepare --job {params.job:q} --settings-hash {params.settings_hash} --data-dir {params.data_dir}"
        " --done {output.stamp} > {log} 2>&1"


rule fetch:
    input:
        prepared_stamp,
        standin_stamp,
    output:
        touch_file=f"{CACHE}/data-ready/{{task}}.ok",
    params:
        job=lambda w: GRID.job_of("fetch", w).dumps(),
        settings_hash=lambda w: GRID.job_of("fetch", w).settings_hash,
        data_dir=data_dir,
    log:
        f"{LOGS}/fetch/{{task}}.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "orca fetch --job {params.job:q} --settings-hash {params.settings_hash} --data-dir {params.data_dir}"
        " --done {output.touch_file} > {log} 2>&1"


# fetch_<suite>: the data of every task file of one suite, e.g. `snakemake fetch_pdebench -c1`.
for _suite, _names in GRID.suites().items():

    rule:
        name:
            f"fetch_{_suite}"
        input:
            [f"{CACHE}/data-ready/{name}.ok" for name in _names],
        localrule: True
