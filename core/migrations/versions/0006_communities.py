"""communities: thematic groups of buyers per theme and size band

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('community',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('theme', sa.String(length=64), nullable=False),
    sa.Column('size_band', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_community')),
    sa.UniqueConstraint('theme', 'size_band', name='uq_community_theme_band')
    )
    op.create_table('community_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('need_id', sa.Integer(), nullable=True),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_community_member_community_id_community'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['need_id'], ['need.id'], name=op.f('fk_community_member_need_id_need'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_community_member_person_id_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_community_member')),
    sa.UniqueConstraint('community_id', 'person_id', name='uq_community_member_person')
    )
    with op.batch_alter_table('community_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_community_member_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_community_member_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('community_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_community_member_person_id'))
        batch_op.drop_index(batch_op.f('ix_community_member_community_id'))
    op.drop_table('community_member')
    op.drop_table('community')
