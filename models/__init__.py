"""Person/pose detector backends behind `models.base.Detector`, loaded by name through `models.registry`.

Model manifests are in `models/manifests/`; `python -m models.export` makes the model files. See docs/models.md.
"""
