"""The SavedModel contract shared with the Go host (go/tfmodel) and api/openapi.yaml.

Names here are part of the public contract: renaming one breaks every deployed host.
"""

SERVE_TAG = "serve"

GENERATE = "generate"  # also exported as serving_default
TRAIN_STEP = "train_step"
DISCRIMINATE = "discriminate"

# Tensor keys.
Z = "z"  # float32 [N, 100], standard normal noise
IMAGES = "images"  # float32 [N, 28, 28, 1] in [-1, 1]
LOGITS = "logits"  # float32 [N, 1], discriminator logit (real > 0)
D_LOSS = "d_loss"  # float32 scalar
G_LOSS = "g_loss"  # float32 scalar
STEP = "step"  # int64 scalar, global step after the update
LABELS = "labels"  # int32 [N], class 0..9: an extra input of generate and train_step in conditional models

CONTRACT = {
    GENERATE: {"inputs": {Z: ("float32", [-1, 100])}, "outputs": {IMAGES: ("float32", [-1, 28, 28, 1])}},
    TRAIN_STEP: {
        "inputs": {IMAGES: ("float32", [-1, 28, 28, 1]), Z: ("float32", [-1, 100])},
        "outputs": {D_LOSS: ("float32", []), G_LOSS: ("float32", []), STEP: ("int64", [])},
    },
    DISCRIMINATE: {"inputs": {IMAGES: ("float32", [-1, 28, 28, 1])}, "outputs": {LOGITS: ("float32", [-1, 1])}},
}

# Conditional models add LABELS to these signatures' inputs; everything else is unchanged.
CONDITIONAL_INPUTS = {GENERATE: {LABELS: ("int32", [-1])}, TRAIN_STEP: {LABELS: ("int32", [-1])}}


def contract(conditional: bool) -> dict:
    """The signature contract of an unconditional or a conditional model."""
    if not conditional:
        return CONTRACT
    out = {name: {"inputs": dict(spec["inputs"]), "outputs": dict(spec["outputs"])} for name, spec in CONTRACT.items()}
    for name, extra in CONDITIONAL_INPUTS.items():
        out[name]["inputs"].update(extra)
    return out
