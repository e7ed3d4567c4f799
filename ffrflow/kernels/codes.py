"""The named numbers of the kernels' interfaces: codes passed in, status codes and slots passed out.

Every form of a kernel (NumPy, Numba, CUDA) uses these values; the CUDA headers
(``kernels/cuda/*.cuh``) spell the same numbers, so a change here is a change to all three forms.
The layouts they index are documented in the NumPy references' docstrings
(:func:`ffrflow.kernels.reference.ensemble_steady`, :mod:`ffrflow.kernels.reference_lumped`).
"""

from __future__ import annotations

# ------------------------------------------------------------------ steady kernels (ensemble_steady)
#: Lesion-law codes of the ``model`` argument, one per case (``model.lesion`` of docs/physics.md
#: §Lesion laws: ``poiseuille-kt``, ``young-tsai``, ``ns-calibrated``).
LESION_POISEUILLE_KT, LESION_YOUNG_TSAI, LESION_NS_CALIBRATED = 0, 1, 2

#: The short names of the batched steady kernels' arguments (``ensemble_steady``,
#: ``ensemble_steady_pre``; flat arrays over all cases, CSR-style):
#:
#: - ``tv_off``, ``tl_off``, ``to_off``: per *tree*, the offsets of its vessels, lesions and outlets
#:   in the tree tables (tree ``t`` owns ``tv_off[t]:tv_off[t+1]``, ...);
#: - ``cv_off``, ``cl_off``, ``co_off``: per *case*, the offsets of its vessels, lesions and outlets
#:   in the per-case arrays (case ``c`` owns ``cv_off[c]:cv_off[c+1]``, ...);
#: - ``dr``: per case-vessel, the sampled radius offset (m) added to every radius of the vessel;
#: - ``sev``: per case-lesion, the lesion severity (1 keeps the lesion, 0 restores the reference
#:   lumen; node radius r + (1 − sev)·d + dr);
#: - ``case_tree``: the tree of each case; ``model``: the lesion-law code of each case (above).

# ------------------------------------------------------------------ lumped kernel (lumped_integrate)
#: Output modes (slot ``SIM_OUTPUT_MODE`` of ``sim_i``): every saved time point, the last cycle, the
#: time mean over the last cycle.
OUTPUT_ALL, OUTPUT_LAST, OUTPUT_MEAN = 0, 1, 2

#: Status of a case (``status``): converged, Newton failed, singular linear system, cycle-to-cycle
#: error still above its tolerance after the extra cycles.
STATUS_OK, STATUS_NEWTON_FAILED, STATUS_SINGULAR, STATUS_CYCLES_NOT_CONVERGED = 0, 1, 2, 3

#: Slots of a case's row of ``sim_i`` (int64): cycles, points per cycle, steady initialisation (0/1),
#: maximum Newton iterations, output mode, cycle-to-cycle extension (0/1), maximum extra cycles,
#: CORONARY_VAR_RES time (0 time within the cycle, 1 absolute time), one unused slot.
(SIM_CYCLES, SIM_POINTS_PER_CYCLE, SIM_STEADY_INITIAL, SIM_MAX_NEWTON, SIM_OUTPUT_MODE, SIM_CYCLE_TO_CYCLE,
 SIM_MAX_EXTRA_CYCLES, SIM_VARRES_ABSOLUTE_TIME) = range(8)
SIM_I_WIDTH = 9

#: Slots of a case's row of ``sim_f`` (float64): period (s), absolute Newton tolerance, spectral
#: radius ρ∞, cycle-to-cycle tolerance (a fraction).
SIMF_PERIOD, SIMF_ABSOLUTE_TOLERANCE, SIMF_RHO_INFTY, SIMF_CYCLE_TO_CYCLE_TOLERANCE = range(4)
SIM_F_WIDTH = 4

#: Slots of ``info_i`` (steps, Newton iterations, cycles, rows written) and ``info_f`` (failure time,
#: negative during the steady initialisation; last max |residual|; last cycle-to-cycle error).
INFO_STEPS, INFO_NEWTON_ITERATIONS, INFO_CYCLES, INFO_ROWS = range(4)
INFO_FAILURE_TIME, INFO_RESIDUAL, INFO_CYCLE_TO_CYCLE_ERROR = range(3)
