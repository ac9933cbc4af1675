"""patient channel: how a patient is told that a result is ready (SMS or e-mail)

``notify_channel`` is what the patient chose at sign-up or on their account page;
``email_enc`` their e-mail address, encrypted like the phone (needed for e-mail).

Revision ID: 0011_patient_channel
Revises: 0010_learning_loop
Create Date: 2026-11-29 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_patient_channel"
down_revision: str | None = "0010_learning_loop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        # Everyone registered before could only be told by SMS.
        batch.add_column(
            sa.Column("notify_channel", sa.String(length=8), nullable=False, server_default="sms")
        )
        batch.add_column(sa.Column("email_enc", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("email_enc")
        batch.drop_column("notify_channel")
