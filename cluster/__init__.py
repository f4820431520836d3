"""The bottom layer: cluster control (`cluster.control.Cluster`), topology, images, compose rendering, the
Docker environment, the Mistral API helper and the lab's one error type.

It imports only the standard library, its third-party dependencies and `history/`. Nothing here is imported
eagerly: `import cluster` is cheap, and `cluster.errors` / `cluster.topology` never touch Docker.
"""
