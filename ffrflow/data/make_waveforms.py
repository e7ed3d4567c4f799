"""Regenerate ``waveforms.json``: the default aortic and left-ventricular pressure shapes.

Synthetic, typical adult shapes over one cardiac cycle (T = 1, n = 200 samples), smoothed to their
first 16 Fourier harmonics so they are periodic and smooth:

- aortic: diastolic 80 mmHg at t = 0, systolic peak ≈ 120 mmHg at t ≈ 0.2 T, a dicrotic notch at
  ≈ 0.33 T, exponential diastolic run-off; stored normalised to a mean of 1 (ffrflow scales it by
  the patient's mean aortic pressure Pa and stretches it to 60 / heart rate);
- left ventricle: ≈ 5 mmHg in diastole, rising with the aortic pressure in systole to ≈ 120 mmHg;
  stored relative to the aortic systolic value (peak 1); scaled by the aortic peak (≈ 1.25 Pa for
  the default shape) for the intramyocardial pressure of the coronary outlet model.

Run: ``python -m ffrflow.data.make_waveforms``.
"""

import json
from pathlib import Path

import numpy as np


def shapes(n=200, harmonics=16):
    tau = np.arange(n) / n
    sys = np.where(tau < 0.32, 80 + 40 * np.sin(np.pi * tau / 0.4), 0.0)
    dia = np.where(tau >= 0.32, 70 + 33.5 * np.exp(-(tau - 0.32) / 0.6), 0.0)
    p = sys + dia - 4.0 * np.exp(-((tau - 0.33) / 0.015) ** 2)
    lv = np.where(tau < 0.36, 5 + 117 * np.clip(np.sin(np.pi * np.clip(tau, 0, 0.36) / 0.36), 0, None) ** 1.2, 5.0)

    def smooth(x):
        f = np.fft.rfft(x)
        f[harmonics + 1:] = 0
        return np.fft.irfft(f, n)

    p, lv = smooth(p), smooth(lv)
    return tau, p / p.mean(), np.clip(lv, 0.0, None) / p.max()


def main():
    tau, ao, lv = shapes()
    doc = {"description": __doc__.strip().splitlines()[0], "period": 1.0, "t": tau.round(6).tolist(),
           "aortic_pressure_over_mean": ao.round(6).tolist(), "lv_pressure_over_aortic_peak": lv.round(6).tolist(),
           "aortic_peak_over_mean": round(float(ao.max()), 6)}
    path = Path(__file__).with_name("waveforms.json")
    path.write_text(json.dumps(doc) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
