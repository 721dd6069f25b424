"""mobilekit: Hugging Face text models to verified on-device models and mobile SDKs."""

__version__ = "0.1.0"
