"""docs/metrics.md names exactly the metrics crm-api and crm-worker expose, and the Grafana dashboard draws only
metrics it names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from crm.app.job_metrics import JobMetrics
from crm.app.jobs import JOBS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
DASHBOARD = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def documented() -> set[str]:
    """The metrics in the doc's tables (first column)."""
    return set(re.findall(r"^\| `(crm_[a-z_]+)` \|", DOC, re.MULTILINE))


def family_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        if family.name.startswith("crm_"):
            names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


async def test_the_doc_names_every_metric_crm_api_and_crm_worker_expose(api):
    worker = CollectorRegistry()
    JobMetrics(JOBS, worker)
    exposed = family_names((await api.get("/metrics")).text) | family_names(generate_latest(worker).decode())

    assert exposed == documented()


def test_the_dashboard_draws_only_documented_metrics():
    expressions = [
        target["expr"] for panel in DASHBOARD["panels"] if panel["type"] != "row" for target in panel["targets"]
    ]
    drawn = set()
    for expression in expressions:
        for name in re.findall(r"\bcrm_[a-z_]+", expression):
            base = name.removesuffix("_bucket")
            drawn.add(base if base in documented() else name)

    assert drawn <= documented(), drawn - documented()
    assert {"crm_outbox_unpublished", "crm_relay_published_total", "crm_worker_job_failures_total"} <= drawn
    assert len({panel["id"] for panel in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])
