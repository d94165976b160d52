"""Database configuration and the `Database` that runs hand-written statements."""

from core.database.config import APP_LABEL, MODEL_MODULES, connection_config, tortoise_config
from core.database.database import (
    Database,
    Dialect,
    ReadInTransaction,
    Statement,
    literal,
    literals,
)

__all__ = [
    "APP_LABEL",
    "MODEL_MODULES",
    "Database",
    "Dialect",
    "ReadInTransaction",
    "Statement",
    "connection_config",
    "literal",
    "literals",
    "tortoise_config",
]
