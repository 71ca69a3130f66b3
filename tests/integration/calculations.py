"""What the calculations tests share: their URL, a complete quote, making one and moving it along the workflow."""

from __future__ import annotations

from tests.values import day


def url(deal: dict, calculation: dict | str | None = None, suffix: str = "") -> str:
    """``/api/v1/deals/{deal}/calculations[/{calculation}{suffix}]``."""
    base = f"/api/v1/deals/{deal['id']}/calculations"
    if calculation is None:
        return base
    calculation_id = calculation if isinstance(calculation, str) else calculation["id"]
    return f"{base}/{calculation_id}{suffix}"


# Every field a calculation needs to become ready.
COMPLETE = {
    "insurance_company": "Ingosstrakh",
    "program_name": "CASCO Premium",
    "premium_amount": "125000.00",
    "coverage_sum": "4500000.00",
    "calculation_date": day(0),
    "validity_period": {"start": day(1), "end": day(365)},
    "files": ["quotes/ingosstrakh.pdf"],
    "comments": "Franchise 30 000",
}


async def make_calculation(api, deal: dict, **fields) -> dict:
    """A draft of ``deal`` with only the required fields, plus ``fields``."""
    body = {"insurance_company": "Ingosstrakh", "calculation_date": day(0), **fields}
    response = await api.post(url(deal), json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def move(api, deal: dict, calculation: dict, status: str, **extra):
    """Asks for ``status`` (``extra``: e.g. ``policy_id``); the answer, whatever it is."""
    return await api.post(url(deal, calculation, "/status"), json={"status": status, **extra})


async def make_in_status(api, deal: dict, status: str, policy_id: str | None = None, **fields) -> dict:
    """A complete calculation moved along the workflow to ``status`` (confirmed with ``policy_id`` if given)."""
    calculation = await make_calculation(api, deal, **{**COMPLETE, **fields})
    path = {"draft": [], "ready": ["ready"], "confirmed": ["ready", "confirmed"], "archived": ["ready", "archived"]}
    for step in path[status]:
        extra = {"policy_id": policy_id} if step == "confirmed" and policy_id else {}
        response = await move(api, deal, calculation, step, **extra)
        assert response.status_code == 200, response.text
        calculation = response.json()
    return calculation
