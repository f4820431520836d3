"""The findings: the catalogue of confirmed Mistral defects and what is built on it.

    catalogue      findings/<id>.yaml loaded and validated; a run's defects known or new (apply_catalogue)
    known_defects  signatures and how a run's anomalies match them
    replay         `mistral-lab findings`: replaying each finding's spec, recording the reproductions
    columns        the release matrix's columns (`--versions 20.2.0,20.2.0+kombu,...`), parsed up front
    matrix_cell    one cell of the matrix (a finding on one column) and its status rules
    matrix         `mistral-lab findings --versions`: the cells column by column, versions.json, --resume
    matrix_html    versions.html: the matrix as a table, each try linked to its run's report
    not_a_defect   findings/not-a-defect/<id>.yaml: candidates set aside, with the reason
    shrink         `mistral-lab shrink`: the smallest spec that still shows a stored run's defect
    patches        `python -m lab.findings.patches`: a candidate fix applied to the Mistral sdist and replayed

The catalogue's data is the checkout's findings/ folder (not this package); see catalogue.DEFAULT_DIR.
"""
