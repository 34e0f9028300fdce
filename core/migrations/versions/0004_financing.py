"""financing schemes; budget bands at the 2026 procurement thresholds

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00

The budget bands stored in ``need.budget_band`` move to the 2026 thresholds
(R2122-8: 60 000 € HT; formalised procedure: 216 000 € HT). A need with an amount gets
the band of its amount; without one, ``lt40k`` -> ``lt60k``, ``100-215k`` -> ``100-216k``,
``gt215k`` -> ``gt216k``; ``40-100k`` without an amount has no equivalent and is kept
(``matcher.procurement`` still reads it). Nothing is lost: the amount, when known, is
untouched, and the downgrade maps the new ids back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# frozen copies of the thresholds at the time of this migration (matcher.procurement)
_UP_BY_AMOUNT = (
    "UPDATE need SET budget_band = CASE "
    "WHEN budget_eur < 60000 THEN 'lt60k' "
    "WHEN budget_eur < 100000 THEN '60-100k' "
    "WHEN budget_eur < 216000 THEN '100-216k' "
    "ELSE 'gt216k' END WHERE budget_eur IS NOT NULL"
)
_DOWN_BY_AMOUNT = (
    "UPDATE need SET budget_band = CASE "
    "WHEN budget_eur < 40000 THEN 'lt40k' "
    "WHEN budget_eur < 100000 THEN '40-100k' "
    "WHEN budget_eur < 215000 THEN '100-215k' "
    "ELSE 'gt215k' END WHERE budget_eur IS NOT NULL"
)
_UP_BANDS = {"lt40k": "lt60k", "100-215k": "100-216k", "gt215k": "gt216k"}
# "lt60k" without an amount may be 40-60k: the widest old band that contains it
_DOWN_BANDS = {"lt60k": "40-100k", "60-100k": "40-100k", "100-216k": "100-215k", "gt216k": "gt215k"}


def _remap(mapping: dict[str, str]) -> None:
    for old, new in mapping.items():
        op.execute(
            sa.text(
                "UPDATE need SET budget_band = :new WHERE budget_band = :old AND budget_eur IS NULL"
            ).bindparams(old=old, new=new)
        )


def upgrade() -> None:
    op.create_table('financing_scheme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=True),
    sa.Column('funder', sa.String(length=300), nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=False),
    sa.Column('min_population', sa.Integer(), nullable=True),
    sa.Column('max_population', sa.Integer(), nullable=True),
    sa.Column('themes', sa.JSON(), nullable=False),
    sa.Column('funds', sa.JSON(), nullable=False),
    sa.Column('stages', sa.JSON(), nullable=False),
    sa.Column('rate', sa.Text(), nullable=True),
    sa.Column('cap', sa.Text(), nullable=True),
    sa.Column('summary_fr', sa.Text(), nullable=False),
    sa.Column('summary_en', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('checked', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('open', 'closed', 'closed_list', name='financingstatus', native_enum=False, length=32), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_financing_scheme')),
    sa.UniqueConstraint('external_id', name=op.f('uq_financing_scheme_external_id'))
    )
    op.execute(_UP_BY_AMOUNT)
    _remap(_UP_BANDS)


def downgrade() -> None:
    op.execute(_DOWN_BY_AMOUNT)
    _remap(_DOWN_BANDS)
    op.drop_table('financing_scheme')
