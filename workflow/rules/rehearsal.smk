# Rehearsal only (config rehearsal: true, see config/rehearsal.yaml): stand-in raw data for a task, written in
# the layout its loader or prepare step reads (orca/rehearsal), into the rehearsal's own data folder.


rule standin:
    output:
        record=f"{CACHE}/standins/{{task}}.json",
    params:
        task_file=task_file,
        settings=lambda w: GRID.settings_json(w.task, "data"),
        overrides=lambda w: GRID.overrides_json("data"),
        data_dir=DATA_DIR,
    log:
        f"{LOGS}/standin/{{task}}.log",
    conda:
        CONDA_ENV
    localrule: True
    shell:
        "orca standin --task {params.task_file} --data-dir {params.data_dir}"
        " --overrides {params.overrides:q} --done {output.record} > {log} 2>&1"
