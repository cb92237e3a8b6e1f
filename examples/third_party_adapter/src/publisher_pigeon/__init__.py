"""An example third-party network for publisher: a carrier-pigeon loft."""

from publisher_pigeon.adapter import PigeonAdapter, PigeonSettings

__all__ = ["PigeonAdapter", "PigeonSettings"]
