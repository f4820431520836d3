"""The protocol map (`mistral-lab map`): every Mistral RPC method under every message fault of the in-process
`rpc` hook, one short seeded run per cell, each cell classified from its run's own judgement.

    cells       the cells (method x side x action) and the selection flags
    cell_spec   the workload sure to send each method, and the seeded spec of one cell
    classify    a cell's class from its run's results.json alone
    run         the loop over the cells on warm labs, map.json after every cell, resume
    render      map.html: the matrix of methods by (side, action)

What each class means and how the cells are run: docs/protocol-map.md.
"""
