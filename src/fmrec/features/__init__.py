"""Feature encoding: turning interactions and side data into FM input rows."""

from fmrec.features.ids import IdIndex, InteractionEncoder

__all__ = ["IdIndex", "InteractionEncoder"]
