"""The business: schemas, rules, services and the protocols they need. Plain Python only."""
