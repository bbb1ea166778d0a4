"""What a SelfDeblur result depends on, flattened for recording beside results and in in-progress states, and how
two such records are compared.

A record is ``{"kernel_size": k, "model.<group>.<option>": value, ..., "model.seed": s, "trainer.precision": p}``
with values as JSON gives them back (tuples as lists), so that a record read from disk compares equal to the
current one.

Example:
    >>> now = flat_settings({"fast": {"enabled": True, "coarse_kernel_sizes": ()}, "seed": 0}, kernel_size=5)
    >>> differences({"kernel_size": 5, "model.fast.enabled": True, "model.seed": 0}, now)  # an option added since
    []
    >>> differences({"kernel_size": 7, "model.fast.enabled": True, "model.seed": 0}, now)
    ['kernel_size 7 (now 5)']
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict
from typing import Any

from selfdeblur.options import FastMode, Generators, Optimization, TotalVariation


def plain(value: Any) -> Any:
    """JSON's view of a value (tuples as lists)."""
    return json.loads(json.dumps(value, default=str))


def flat_settings(nested: dict[str, Any], kernel_size: int | None = None) -> dict[str, Any]:
    """:meth:`SelfDeblur.settings`' nested groups as one flat record (with ``kernel_size`` when given)."""
    flat: dict[str, Any] = {} if kernel_size is None else {"kernel_size": kernel_size}
    for group, values in nested.items():
        if isinstance(values, dict):
            flat |= {f"model.{group}.{key}": plain(value) for key, value in values.items()}
        else:
            flat[f"model.{group}" if group != "precision" else "trainer.precision"] = plain(values)
    return flat


@functools.cache
def _defaults() -> dict[str, Any]:
    groups: dict[str, Any] = {
        "optimization": Optimization(),
        "generators": Generators(),
        "tv": TotalVariation(),
        "fast": FastMode(),
    }
    return flat_settings({group: asdict(options) for group, options in groups.items()})


def differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``"<key> <before> (now <now>)"`` for every setting that differs between two flat records. An option missing
    from ``before`` is no difference while ``now`` holds its default: it was added after ``before`` was recorded,
    and at its default it changes nothing."""
    defaults = _defaults()
    return [
        f"{key} {before.get(key, '-')} (now {now.get(key, '-')})"
        for key in sorted(set(before) | set(now))
        if before.get(key) != now.get(key) and not (key not in before and key in defaults and now[key] == defaults[key])
    ]
