"""Loss-curve and scaling laws: pure functions of schedules and sizes, with their parameters declared as data."""

from scalefit.laws.base import ParamSpec

__all__ = ["ParamSpec"]
