"""A table's published_tables: checked against the published CSV and passed to its report job's settings."""
import pytest
import yaml

from orca.plan.grid import ConfigError, Grid


def _config(published_tables):
    config = yaml.safe_load(open("config/config.yaml"))
    config["published_csv"] = "benchmarks/published/published.csv"
    config["tables"]["default"]["published_tables"] = published_tables
    return config


def test_published_tables_reach_the_report_job_settings():
    job = Grid(_config(["PDEBench_main"])).job("report", table="default")
    assert job.settings["report"]["published_tables"] == ["PDEBench_main"]
    assert "published_tables" not in Grid(_config([])).job("report", table="default").settings["report"]


def test_an_unknown_published_table_names_the_csv_and_its_tables():
    with pytest.raises(ConfigError, match="published_tables: RECRAFT_NB360 not in .*published.csv; its tables: .*"
                                          "NB360_main"):
        Grid(_config(["RECRAFT_NB360"]))
