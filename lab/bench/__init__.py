"""The scaling benchmark (`mistral-lab bench`) and `make bench-cluster`.

    scaling         the orchestrator: one cluster resized across topologies (Bench)
    model           parameters, samples, result entries and their statistics
    measure         executions and repeats over HTTP
    usage           the docker stats sampler, CPU and memory figures
    faults          fault runs on a nemesis.schedule
    report          rendering (Markdown, HTML, PNG) and compare
    cluster_timing  `make bench-cluster`: warm `up`, `reset` and `down` of a lab, timed

Nothing is imported here: `mistral-lab --help` loads bench.report and bench.model only, never the Docker side.
"""
