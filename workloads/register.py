"""Register workload: Mistral environments as independent registers, checked with the cas-register model.

Each key is one environment holding {"v": <int>}. create-if-absent (POST) is `cas [nil, v]`, a blind write
(PUT) is `write v` and a GET is `read`. Writes carry unique values so a stale read cannot hide. A key
retires after `ops_per_key` operations and a fresh one takes its place, which keeps each key's history small
enough for the linearizability search.
"""
from __future__ import annotations

import itertools
import random

from mistralclient.api.base import APIException

from cluster.mistral_api import NodeClient, api_error
from workloads.core import Completion, Op, Param, RunContext, Workload, positive

NOT_FOUND = 404


class RegisterWorkload(Workload):
    name = "register"
    description = "environments as registers: create-if-absent (POST), blind write (PUT), read (GET)"
    PARAMS = {
        "keys": Param(3, "keys in use at once", positive),
        "ops_per_key": Param(40, "operations on one key before it retires", positive),
        "read_ratio": Param(0.5, "share of reads", lambda v: None if 0 <= v <= 1 else "must be in [0, 1]"),
        "create_ratio": Param(0.2, "share of create-if-absent", lambda v: None if 0 <= v <= 1 else "must be in [0, 1]"),
    }
    checkers = ("linearizable", "perf")
    model = "cas-register"

    def setup(self, ctx: RunContext) -> None:
        self.prefix = f"lab-reg-{ctx.run_id}"
        self.values = itertools.count(1)
        self.next_key = itertools.count()
        self.active = [next(self.next_key) for _ in range(self.params["keys"])]
        self.used: dict[int, int] = {}  # key index -> ops generated so far

    def key_name(self, index: int) -> str:
        return f"{self.prefix}-{index}"

    def next_op(self, rng: random.Random, process: int, node: str) -> Op | None:
        slot = rng.randrange(len(self.active))
        index = self.active[slot]
        self.used[index] = self.used.get(index, 0) + 1
        if self.used[index] >= self.params["ops_per_key"]:
            self.active[slot] = next(self.next_key)
        key = self.key_name(index)
        roll = rng.random()
        if roll < self.params["read_ratio"]:
            return Op("read", None, key)
        if roll < self.params["read_ratio"] + self.params["create_ratio"]:
            return Op("cas", [None, next(self.values)], key)
        return Op("write", next(self.values), key)

    def invoke(self, client: NodeClient, op: Op) -> Completion:
        envs = client.mistral.environments
        try:
            if op.f == "read":
                return Completion.ok(_value_of(envs.get(op.key).variables))
            if op.f == "write":
                envs.update(name=op.key, variables={"v": op.value})
                return Completion.ok(op.value)
            envs.create(name=op.key, variables={"v": op.value[1]})
            return Completion.ok(op.value)
        except APIException as exc:
            error = api_error(exc)
            if op.f == "read" and error.status == NOT_FOUND:
                return Completion.ok(None)  # absent: the register is still unset
            if 400 <= error.status < 500:
                return Completion.fail(str(error))  # Mistral refused: 404 write to absent key, 409 create
            return Completion.info(str(error))  # 5xx or no status: the outcome is unknown

    def final_reads(self, ctx: RunContext) -> list[Op]:
        return [Op("read", None, self.key_name(i), node=node) for i in sorted(self.used) for node in ctx.nodes]


def _value_of(variables: object) -> object:
    if isinstance(variables, str):  # some Mistral versions return the variables as JSON text
        import json

        variables = json.loads(variables)
    return variables.get("v") if isinstance(variables, dict) else None


__all__ = ["RegisterWorkload"]
