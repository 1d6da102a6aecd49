"""Model backends. Importing the package registers every family (see `registry.py`): one import per family."""

from motivnet_serve.backends.emotion import mini_xception_predictor, motivnet_predictor

__all__ = ["mini_xception_predictor", "motivnet_predictor"]
