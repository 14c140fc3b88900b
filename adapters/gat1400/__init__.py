"""GA/T 1400 (VIID view library), JSON over HTTP: the gateway as a collection device that registers
to a view library, keeps alive, and uploads person and face records with their pictures. Protocol
code only (ids, object builders, status parsing, the async client); it never imports `gateway`.
"""
