"""Database (MariaDB or PostgreSQL) outage: stop, kill, pause or isolate it; heal brings it back."""
from __future__ import annotations

from nemesis.base import register
from nemesis.outage import InfraOutage


@register
class DbOutage(InfraOutage):
    name = "db"
    summary = "database outage (mode=stop|kill|pause|isolate); heal brings it back"
    node = "db"
