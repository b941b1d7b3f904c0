"""VAE Latent Lab's core: datasets, the VAE, its objectives and estimators, training, a
model cache and a command line. Pure PyTorch; never imports Streamlit."""

from vae_core.cache import TrainedModel, get_or_train, load_model, lookup, save_model
from vae_core.config import DATASETS, ModelConfig, RunConfig, TrainConfig, make_config
from vae_core.model import VAE, build_model

__all__ = [
    "DATASETS",
    "VAE",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "TrainedModel",
    "build_model",
    "get_or_train",
    "load_model",
    "lookup",
    "make_config",
    "save_model",
]
