"""proposals: start-ups propose their solution to open needs (issue 21)

``need.proposals_open`` (true for every existing need), ``introduction.kind``
(``request`` for every existing introduction, ``proposal`` for a start-up's proposal)
and ``introduction.fit`` (a proposal's fit score, best first).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposals_open', sa.Boolean(), nullable=False, server_default=sa.true()))

    with op.batch_alter_table('introduction', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.Enum('request', 'proposal', name='introkind', native_enum=False, length=32), nullable=False, server_default='request'))
        batch_op.add_column(sa.Column('fit', sa.Float(), nullable=True))
        batch_op.create_index('ix_introduction_need_kind', ['need_id', 'kind'], unique=False)
        batch_op.create_unique_constraint('uq_introduction_proposal', ['kind', 'solution_id', 'need_id'])


def downgrade() -> None:
    with op.batch_alter_table('introduction', schema=None) as batch_op:
        batch_op.drop_constraint('uq_introduction_proposal', type_='unique')
        batch_op.drop_index('ix_introduction_need_kind')
        batch_op.drop_column('fit')
        batch_op.drop_column('kind')

    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.drop_column('proposals_open')
