"""digest e-mail (double opt-in address), instant alerts, delivery channel

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('email_confirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('alerts', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('digest_delivery', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('channel', sa.String(length=16), server_default='telegram', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('digest_delivery', schema=None) as batch_op:
        batch_op.drop_column('channel')
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_column('alerts')
        batch_op.drop_column('email_confirmed_at')
        batch_op.drop_column('email')
