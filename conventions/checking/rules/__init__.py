"""Rule families, one module each; importing this package registers every rule."""

from nxport.conventions.checking.rules import file_rules, graph_rules, input_rules, normalization_rules, output_rules  # noqa: F401
