"""The nemesis: faults injected on purpose, on seeded schedules, always healed.

Importing the package registers every fault module in `nemesis.base.FAULTS`.
"""
from nemesis import broker, clock, db, host, kill, message_loss, netem, partition, pause, rpc, scale, stop  # noqa: F401
from nemesis.base import FAULTS, Fault, make_fault  # noqa: F401
