"""Feature encoding: turning interactions and side data into FM input rows."""

from fmrec.features.groups import GROUPS, FeatureBuilder
from fmrec.features.ids import IdIndex

__all__ = ["GROUPS", "FeatureBuilder", "IdIndex"]
