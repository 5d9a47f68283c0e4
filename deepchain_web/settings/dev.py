"""Local development and the demo: embedded services; DEBUG off unless asked for (DEBUG=1),
so an error shows the friendly error page, never Django's debug page with the settings."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", False)
