"""The Tortoise config Aerich imports (`aerich.ini` points here).

Aerich can only read a module attribute, so this is the one module that
builds Settings at import time; nothing else imports it.
"""

from core.database import tortoise_config
from core.settings import Settings

TORTOISE_ORM = tortoise_config(Settings())
