"""solution follows ("Suivre" on a result card), the need's problem statement

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('solution_follow',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('solution_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_solution_follow_person_id_person'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['solution_id'], ['solution.id'], name=op.f('fk_solution_follow_solution_id_solution'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_solution_follow')),
    sa.UniqueConstraint('person_id', 'solution_id', name='uq_solution_follow')
    )
    with op.batch_alter_table('solution_follow', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_solution_follow_person_id'), ['person_id'], unique=False)
    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.add_column(sa.Column('problem', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.drop_column('problem')
    with op.batch_alter_table('solution_follow', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_solution_follow_person_id'))

    op.drop_table('solution_follow')
