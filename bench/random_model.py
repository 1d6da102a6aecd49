"""Model folders with random weights, so any Sapiens size can be benchmarked without its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from motivnet_serve.backends.emotion.motivnet import build_motivnet
from motivnet_serve.backends.emotion.spec import MOTIVNET_LABELS, Architecture


def make_random_model_folder(folder: Path, preset: str, dtype: torch.dtype = torch.bfloat16) -> Path:
    """Writes model.json and random.safetensors (bf16 by default: half the disk, same compute). model.json
    spells out every architecture key rather than the preset's name, so older revisions, which may not know
    the preset, serve the same folder (`bench revisions`)."""
    folder.mkdir(parents=True, exist_ok=True)
    arch = Architecture(preset=preset)
    model = build_motivnet(arch, "cuda" if torch.cuda.is_available() else "cpu")
    state = {key: tensor.to(dtype).contiguous().cpu() for key, tensor in model.state_dict().items()}
    save_file(state, str(folder / "random.safetensors"))
    spec = {
        "name": f"random-{preset}",
        "architecture": arch.model_dump(mode="json", exclude={"preset"}),
        "labels": list(MOTIVNET_LABELS),
        "checkpoint": "random.safetensors",
    }
    (folder / "model.json").write_text(json.dumps(spec, indent=2))
    return folder
