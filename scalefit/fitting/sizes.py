"""Model sizes in a fit: which law the runs call for, whether a size-blind law may fit them, and what a size-aware
law's size terms rest on (the notes that say so).

* **The data choose the default law.** Runs of two or more model sizes (their ``params`` metadata, sizes within
  :data:`~scalefit.laws.size_terms.SAME_SIZE_RTOL` counting as one) are fitted by :data:`SIZE_LAW` when no law is
  given, and the fit says why (a note). Runs of one size, or that do not state it, keep :data:`DEFAULT_LAW`.
* **A size-blind law on runs of several sizes is an error**, unless the caller asks for it
  (``allow_mixed_sizes=True``, CLI ``--allow-mixed-sizes``): such a law fits them as one model, so the sizes'
  difference in loss becomes a misfit of the schedule terms (on the Schaipp runs ``mpl`` fitted that way misses a
  held-out size by 7-9x the in-size error; ``benchmarks/RESULTS.md``, "Beyond the fitted runs"). With the option the
  fit goes on and says so.
* **A size-aware law needs two sizes** (:func:`~scalefit.laws.size_terms.check_sizes`), unless the caller fixes its
  size terms (``K``, ``a``, ``rA`` and the drop's factor): then one size is enough, and the note says that every
  prediction at another size rests on those values. With two sizes the size exponent comes from the prior
  (:func:`~scalefit.laws.size_terms.prior_note`, an AssumptionWarning); with three or more it is fitted.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from scalefit.errors import AssumptionWarning, FitInputError
from scalefit.laws.size_terms import check_sizes, distinct_sizes, prior_note, run_sizes
from scalefit.results import Note

#: The law a fit uses when none is given and the runs have one model size (or do not state it).
DEFAULT_LAW = "mpl"
#: The law a fit uses when none is given and the runs have two or more model sizes.
SIZE_LAW = "mpl-n"


def fitted_sizes(runs: Sequence[Any]) -> list[float]:
    """The distinct model sizes the runs state (``params`` metadata), ascending; [] when none does."""
    return distinct_sizes(run_sizes(runs))


def _listed(sizes: Sequence[float]) -> str:
    return ", ".join(f"{s:.3g}" for s in sizes)


def choose_law(runs: Sequence[Any]) -> tuple[str, Note | None]:
    """The default law for ``runs`` and, when the sizes chose it, the note that says so."""
    sizes = fitted_sizes(runs)
    if len(sizes) < 2:
        return DEFAULT_LAW, None
    return SIZE_LAW, Note(
        "law_choice", f"law {SIZE_LAW} chosen: the runs have {len(sizes)} model sizes ({_listed(sizes)}), and a "
        f"size-blind law ({DEFAULT_LAW}, tissue) would fit them as one model. Pass a law to choose another.",
        None, {"law": SIZE_LAW, "sizes": list(sizes)})


def size_terms(law: Any) -> tuple[str, ...]:
    """The parameters of a size-aware law that carry the model size: ``K`` and its nonlinear size terms."""
    return ("K", *law.size_names())


def check_mixed(law: Any, law_name: str, runs: Sequence[Any], allow_mixed: bool) -> Note | None:
    """For a size-blind law: FitInputError when ``runs`` have several sizes and ``allow_mixed`` is False; the note
    that says they are fitted as one model when it is True; None for runs of one size."""
    if getattr(law, "size_aware", False):
        return None
    sizes = fitted_sizes(runs)
    if len(sizes) < 2:
        return None
    if not allow_mixed:
        raise FitInputError(
            f"law {law_name!r} ignores model size, but the runs have {len(sizes)} sizes ({_listed(sizes)}): it would "
            f"fit them as one model. Use a size-aware law ({SIZE_LAW}, the default for such runs: leave --law out), "
            "fit one size at a time, or pass --allow-mixed-sizes (allow_mixed_sizes=True) to fit them as one model "
            "anyway.", value=law_name)
    return Note("mixed_sizes", f"fit {law_name}: the runs have {len(sizes)} model sizes ({_listed(sizes)}), fitted as "
                "one model as asked (allow_mixed_sizes): the law ignores their sizes, so their differences in loss "
                "count as misfit.", AssumptionWarning, {"sizes": list(sizes)})


def check_size_aware(law: Any, law_name: str, runs: Sequence[Any], fixed: Mapping[str, float]) -> list[float]:
    """For a size-aware law: the distinct sizes of ``runs``. FitInputError (naming what is missing) when a run does
    not state its size, or when there is one size and ``fixed`` does not set every size term."""
    if all(name in fixed for name in size_terms(law)):
        return check_sizes_stated(runs, law_name)
    return check_sizes(runs, law_name)


def check_sizes_stated(runs: Sequence[Any], law_name: str) -> list[float]:
    """The distinct sizes of ``runs``, every run stating one (FitInputError naming the first that does not)."""
    missing = [r for r, s in zip(runs, run_sizes(runs)) if s is None]
    if missing:
        return check_sizes(missing, law_name)  # raises, naming the run
    return fitted_sizes(runs)


def size_note(law: Any, law_name: str, sizes: Sequence[float], fixed: Mapping[str, float],
              prior: Mapping[str, Any]) -> Note:
    """What a size-aware fit's size terms rest on: the caller's values, the prior (two sizes), or the data."""
    terms = size_terms(law)
    held = [n for n in terms if n in fixed]
    data = {"sizes": list(sizes), "fixed": held, "prior": [n for n in terms if n in prior]}
    if held:
        rest = "every prediction at another size rests on them" if len(held) == len(terms) else \
            f"the others ({', '.join(n for n in terms if n not in held)}) are fitted"
        return Note("size_terms", f"fit {law_name}: {len(sizes)} model size(s) ({_listed(sizes)}); the size terms "
                    f"{', '.join(held)} are held at the values given, not measured: {rest}.", AssumptionWarning, data)
    if len(sizes) == 2 and "a" not in prior:
        return Note("size_terms", f"fit {law_name}: two model sizes ({_listed(sizes)}) and no prior on the size "
                    "exponent a: the data do not determine it (E + K N^-a passes through two points for every a), so "
                    "predictions at another size rest on where the search stopped. Keep the default prior, or fix "
                    "it (--fix a=0.34).", AssumptionWarning, data)
    return Note("size_terms", prior_note(law, sizes), AssumptionWarning if len(sizes) == 2 else None, data)
