"""Coverage and compliance reports: the data model (model), its builder (coverage) and renderers (render)."""
