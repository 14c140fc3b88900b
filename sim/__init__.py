"""The simulated site of `make demo` and of the tests: RTSP servers, an ONVIF device, the clips.

Not part of the gateway: a package of the repository (as tests/ and benchmarks/ are), never shipped,
run with `python -m sim demo` from the repository root. It imports the gateway; the gateway never
imports it (tests/unit/test_layering.py).
"""
