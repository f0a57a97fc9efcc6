"""The checker: the rule engine, every rule family, the onnxruntime stage and the many-files runner."""
