"""What an artifact says about itself: normalization in graph.doc_string (rules C2, C3) and
provenance as JSON in metadata_props, read back by the checker, calibration and serving."""

from __future__ import annotations

import json

from conventions.normalization import Normalization

PROVENANCE_KEY = "nxport"


def stamp(model, normalization: Normalization, provenance: dict) -> None:
    model.graph.doc_string = normalization.to_doc_string()
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key = PROVENANCE_KEY
    # sort_keys: the same export must give the same bytes.
    entry.value = json.dumps(provenance, sort_keys=True, separators=(",", ":"))


def read_provenance(model) -> dict:
    for entry in model.metadata_props:
        if entry.key == PROVENANCE_KEY:
            return json.loads(entry.value)
    return {}
