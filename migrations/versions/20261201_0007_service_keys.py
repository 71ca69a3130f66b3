"""service keys (the cursor signing key every crm-api process shares)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_keys",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("octet_length(key) >= 32", name=op.f("ck_service_keys_key_length")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_keys")),
        schema="crm",
    )


def downgrade() -> None:
    op.drop_table("service_keys", schema="crm")
