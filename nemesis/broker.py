"""Message broker (RabbitMQ) outage: stop, kill, pause or isolate it; heal brings it back."""
from __future__ import annotations

from nemesis.base import register
from nemesis.outage import InfraOutage


@register
class BrokerOutage(InfraOutage):
    name = "broker"
    summary = "RabbitMQ outage (mode=stop|kill|pause|isolate); heal brings it back"
    node = "broker"
