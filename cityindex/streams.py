"""The one registry of named random streams.

Every random number in cityindex comes from a generator built here from the run's seed:
``SeedSequence(seed, spawn_key=(stream, block))`` — the child that ``SeedSequence(seed).spawn``
would give — so a block's numbers depend only on the seed, the stream and the block index,
never on chunk size, worker count or the order in which blocks run. Seed 0 is a seed like any
other.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """Named streams; the numbers are part of the output's identity, never reuse one."""

    MONTECARLO = 0          # the combined lens: weights x normalisations x aggregations
    NOISE = 1               # measurement-noise bootstrap, nominal weights
    RESAMPLE = 2            # unit resampling
    NOISE_WEIGHTS = 3       # measurement noise and weights together
    SOBOL_NOISE = 4         # the noisy copies behind the Sobol' noise trigger
    RANK_CI = 5             # parametric bootstrap of the rank confidence sets
    WEIGHTS = 6             # the weights lens: weight scenarios at the index's own construction
    CONSTRUCTION = 7        # the construction lens's Monte Carlo
    EXTREMES = 8            # weight draws behind sampled (inner) rank bounds


def block_rng(seed: int, stream: Stream, block: int = 0) -> np.random.Generator:
    """The generator of block ``block`` of ``stream``."""
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(int(seed), spawn_key=(int(stream), int(block)))))


def salib_rng(seed: int) -> np.random.Generator:
    """The generator SALib itself uses for a seed (``numpy.random.default_rng(seed)``): the
    Sobol' bootstrap draws the same resamples as ``SALib.analyze.sobol``, so the two can be
    compared number for number."""
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed))))
