"""Model provisioning (pinned offline weights, converted) and resolution of model references."""

from speechalign.models.resolve import model_path

__all__ = ["model_path"]
