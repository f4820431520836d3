"""The swarm backend: a lab as a Docker Swarm stack, one service per node (api-1, engine-2, ...), one replica.

backend: SwarmBackend, the Backend of cluster.backends.base for a stack; hosts: node-level operations (a
whole machine of the swarm as a fault target); plan: the backend's decisions as pure functions (the hosts
file, placement, image distribution, the stack file).
"""
