"""Generated SDKs: the inputs they share, golden vectors, and one subpackage per platform."""
