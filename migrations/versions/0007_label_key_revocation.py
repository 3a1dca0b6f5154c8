"""Label keys can be revoked, and key ids grow from 4 to 13 characters

Revision ID: 0007
Revises: 0009
Create Date: 2026-12-12 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0009'
branch_labels = None
depends_on = None

# Every column that holds a key id: the key's own, and the two that point at it.
KEY_ID_COLUMNS = (('label_key', 'key_id'), ('label', 'key_id'), ('ledger_checkpoint', 'key_id'))


def _key_id_length(old: int, new: int) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        for table, column in KEY_ID_COLUMNS:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.alter_column(column, existing_type=sa.String(length=old),
                                      type_=sa.String(length=new), existing_nullable=False)
        return
    # SQLite never checks a VARCHAR length, so only the declared type changes. Batch
    # mode would rebuild label_key, and dropping it with foreign keys on (they cannot
    # be turned off inside the migration's transaction) fails as soon as a label
    # points at it. SQLite's documented in-place schema edit changes the declaration
    # alone: same affinity, nothing on disk moves.
    version = bind.exec_driver_sql('PRAGMA schema_version').scalar()
    bind.exec_driver_sql('PRAGMA writable_schema=ON')
    for table, column in KEY_ID_COLUMNS:
        changed = bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = replace(sql, ?, ?) "
            "WHERE type = 'table' AND name = ? AND instr(sql, ?) > 0",
            (f'{column} VARCHAR({old})', f'{column} VARCHAR({new})', table,
             f'{column} VARCHAR({old})')).rowcount
        if changed != 1:
            raise RuntimeError(f'{table}.{column} is not declared VARCHAR({old})')
    bind.exec_driver_sql(f'PRAGMA schema_version={version + 1}')
    bind.exec_driver_sql('PRAGMA writable_schema=OFF')


def upgrade():
    _key_id_length(8, 16)
    with op.batch_alter_table('label_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revoked_reason', sa.String(length=200), server_default='',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('label_key', schema=None) as batch_op:
        batch_op.drop_column('revoked_reason')
        batch_op.drop_column('revoked_at')
    _key_id_length(16, 8)
