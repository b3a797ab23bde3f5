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

CONTRACT = {
    GENERATE: {"inputs": {Z: ("float32", [-1, 100])}, "outputs": {IMAGES: ("float32", [-1, 28, 28, 1])}},
    TRAIN_STEP: {
        "inputs": {IMAGES: ("float32", [-1, 28, 28, 1]), Z: ("float32", [-1, 100])},
        "outputs": {D_LOSS: ("float32", []), G_LOSS: ("float32", []), STEP: ("int64", [])},
    },
    DISCRIMINATE: {"inputs": {IMAGES: ("float32", [-1, 28, 28, 1])}, "outputs": {LOGITS: ("float32", [-1, 1])}},
}
