# Rehearsal only (config rehearsal: true, see config/rehearsal.yaml): stand-in raw data for a task, written in
# the layout its loader or prepare step reads (orca/rehearsal), into the rehearsal's own data folder.


rule standin:
    output:
        record=f"{CACHE}/standins/{{task}}.json",
    params:
        job=lambda w: GRID.job_of("standin", w).dumps(),
        settings_hash=lambda w: GRID.job_of("standin", w).settings_hash,
        data_dir=DATA_DIR,
    log:
        f"{LOGS}/standin/{{task}}.log",
    conda:
        CONDA_ENV
    localrule: True
    shell:
        "orca standin --job {params.job:q} --settings-hash {params.settings_hash} --data-dir {params.data_dir}"
        " --done {output.record} > {log} 2>&1"
