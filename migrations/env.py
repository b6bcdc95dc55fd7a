"""Alembic environment: runs on the connection numi passes in (see numi/db/migrate.py)."""
from alembic import context

from numi.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # `alembic upgrade head` from the command line
    from numi.db import make_engine
    from numi.settings import Settings

    engine = make_engine(Settings.from_env().database_url)
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
