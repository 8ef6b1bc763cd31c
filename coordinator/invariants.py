"""What `nuanliu check` reports, and what a domain's rule returns: a domain keeps the rules of
its invariants beside its code and lists them (`logistics.invariants.RULES`), and
`nuanliu.check` runs the lists with its own. A rule is a function of the keyword `session`
(the timed ones also take `now` and `grace`) returning the breaches it found. Rules only
read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Breach:
    """One broken invariant: `rule` is a stable name, `subject` the row(s), `message` prose."""

    rule: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.subject}: {self.message}"


Rule = Callable[..., list[Breach]]
