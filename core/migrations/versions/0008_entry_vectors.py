"""entry vectors: each searchable text's embedding, computed once and shared by workers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('entry_vector',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('doc_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('model_id', sa.String(length=255), nullable=False),
    sa.Column('text_hash', sa.String(length=16), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'doc_id', name=op.f('pk_entry_vector'))
    )


def downgrade() -> None:
    op.drop_table('entry_vector')
