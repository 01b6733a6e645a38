"""Forest-loss detection (see ``model`` for the detector itself)."""

from geo.detect.model import *  # noqa: F403
