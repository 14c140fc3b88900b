"""Video quality diagnosis on sampled decoded frames: every check of a sample in one call
(:func:`gateway.quality.checks.diagnose`), the checks by kind (`picture`, `temporal`, `scene`), what
they share (`frames`, `thresholds`, `schedule`), the keyframe sampler the readers run (`sampler`) and
the stored reference pictures (`references`).

Import from the modules themselves: this package imports nothing, so that the config (which needs
only the check names and thresholds) and the worker processes do not load every check with it.
"""
