"""Pearson's chi-square test of observed counts against the shares weights promise."""

from __future__ import annotations

from collections.abc import Mapping

# Upper critical values of the chi-square distribution at significance 0.001, by degrees of freedom.
CRITICAL_0_001 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515, 6: 22.458, 7: 24.322, 8: 26.124}


def chi_square(observed: Mapping[str, int], weights: Mapping[str, int]) -> float:
    """The statistic of ``observed`` counts against shares ``weight / sum(weights)`` (every weight > 0)."""
    total = sum(observed.values())
    weight_sum = sum(weights.values())
    statistic = 0.0
    for key, weight in weights.items():
        expected = total * weight / weight_sum
        statistic += (observed.get(key, 0) - expected) ** 2 / expected
    return statistic


def fair(observed: Mapping[str, int], weights: Mapping[str, int]) -> bool:
    """True unless the counts stray from the weights more than chance would once in a thousand times."""
    unknown = set(observed) - set(weights)
    assert not unknown, f"counts for keys without a weight: {unknown}"
    return chi_square(observed, weights) < CRITICAL_0_001[len(weights) - 1]
