"""Check that env.example documents exactly the fields of crm.app.config.Settings.

Usage: .venv/bin/python scripts/check_env_example.py [path/to/env.example]

Every Settings field must appear as `CRM_<NAME>=...` or, when it is unset by default (default None),
commented out as `# CRM_<NAME>=...`; every CRM_ name the file mentions, in a setting or in a comment,
must be a Settings field; each name is set once; an uncommented value must be the field's default.
Exits 1 with one line per problem, 0 when the file is in step with the code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from pydantic import ValidationError  # noqa: E402

from crm.app.config import Settings  # noqa: E402

PREFIX = "CRM_"
SETTING = re.compile(r"^(?P<comment>#\s*)?(?P<name>CRM_[A-Za-z0-9_]+)=(?P<value>.*)$")
MENTION = re.compile(r"\bCRM_[A-Za-z0-9_]+")


def check(path: Path) -> list[str]:
    fields = {PREFIX + name.upper(): name for name in Settings.model_fields}
    problems: list[str] = []
    seen: dict[str, int] = {}

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        where = f"{path.name}:{number}"
        for mention in MENTION.findall(line):
            if mention.upper() not in fields:
                problems.append(f"{where}: {mention} is not a field of crm.app.config.Settings")
        match = SETTING.match(line)
        if match is None:
            continue
        env_name = match["name"].upper()
        if env_name not in fields:
            continue  # already reported above
        if env_name in seen:
            problems.append(f"{where}: {env_name} is set again (first on line {seen[env_name]})")
            continue
        seen[env_name] = number
        field_name = fields[env_name]
        default = Settings.model_fields[field_name].default
        commented = match["comment"] is not None
        if default is None and not commented:
            problems.append(f"{where}: {env_name} is unset by default; show it commented out (# {env_name}=...)")
        elif default is not None and commented:
            problems.append(f"{where}: {env_name} has a default ({default!r}); show it uncommented")
        elif default is not None:
            # Validates this one field as pydantic-settings would (type, constraints, validators),
            # without reading the environment or a .env file.
            probe = Settings.model_construct()
            try:
                Settings.__pydantic_validator__.validate_assignment(probe, field_name, match["value"])
                value = getattr(probe, field_name)
            except ValidationError as exc:
                problems.append(f"{where}: {env_name}={match['value']} is not valid: {exc.errors()[0]['msg']}")
                continue
            if value != default:
                problems.append(f"{where}: {env_name}={match['value']} differs from the default {default!r}")

    for env_name in sorted(set(fields) - set(seen)):
        problems.append(
            f"{path.name}: {env_name} (Settings.{fields[env_name]}) is missing; add `{env_name}=` or `# {env_name}=`"
        )
    return problems


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else PROJECT_ROOT / "env.example"
    if not path.is_file():
        print(f"check_env_example: {path} not found", file=sys.stderr)
        return 1
    problems = check(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check_env_example: {path} is out of step with crm.app.config.Settings", file=sys.stderr)
        return 1
    print(f"check_env_example: {path.name} documents all {len(Settings.model_fields)} Settings fields")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
