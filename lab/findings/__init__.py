"""The findings: the catalogue of confirmed Mistral defects and what is built on it.

    catalogue      findings/<id>.yaml loaded and validated; a run's defects known or new (apply_catalogue)
    known_defects  signatures and how a run's anomalies match them
    replay         `mistral-lab findings`: replaying each finding's spec, recording the reproductions
    not_a_defect   findings/not-a-defect/<id>.yaml: candidates set aside, with the reason
    shrink         `mistral-lab shrink`: the smallest spec that still shows a stored run's defect
    patches        `python -m lab.findings.patches`: a candidate fix applied to the Mistral sdist and replayed

The catalogue's data is the checkout's findings/ folder (not this package); see catalogue.DEFAULT_DIR.
"""
