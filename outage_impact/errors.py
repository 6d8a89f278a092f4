"""Errors of switching plans and their evaluation (subclasses of the GridAtlas family)."""

from __future__ import annotations

from gis.errors import Conflict, InvalidInput

__all__ = ["InvalidPlan", "InvalidStep", "LoopBetweenSources"]


class InvalidPlan(InvalidInput):
    """The plan document is malformed: unknown key, bad action, bad window, empty plan..."""

    code = "invalid-plan"


class InvalidStep(InvalidInput):
    """A step contradicts the state it is applied to (e.g. closing a closed switch)."""

    code = "invalid-step"

    def __init__(self, step: int, action: str, kind: str, element: str, state: str) -> None:
        super().__init__(
            f"step {step}: cannot {action.replace('_', ' ')} {kind} {element!r}: it is {state}",
            field=f"steps[{step}]", value=element,
        )
        self.step, self.action, self.kind, self.element, self.state = step, action, kind, element, state


class LoopBetweenSources(Conflict):
    """A state of the plan connects two sources that the normal state keeps apart."""

    code = "loop-between-sources"

    def __init__(self, step: int, action: str, kind: str, element: str, sources: tuple[str, str],
                 hint: str = "") -> None:
        a, b = sources
        super().__init__(
            f"step {step}: {action.replace('_', ' ')} {kind} {element!r} parallels substations "
            f"{a!r} and {b!r}{hint}",
            field=f"steps[{step}]", value=element,
        )
        self.step, self.action, self.kind, self.element, self.sources = step, action, kind, element, (a, b)
