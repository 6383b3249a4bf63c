"""`snakesweep init`: everything a sweep needs, written into the user's own project folder.

Where the user's `train.py` and `sweep.yaml` sit (or in an empty folder), it writes:
- `Snakefile`: snakesweep's workflow used as a Snakemake module (`module snakesweep:` with
  `use rule * from snakesweep`, the Snakemake catalogue's convention, as snakedeploy writes it);
- `configs/config.yaml`: the default config, its `sweep.file` pointing at `sweep.yaml`;
- `slurm/profile.yaml`: the SLURM profile, for `snakemake --profile slurm`;
- `train.py` and `sweep.yaml`, an example W&B program and its sweep file (an MLP on
  scikit-learn's 8x8 digits, with bayes search and hyperband, that needs no download), when the
  folder has neither.
It overwrites nothing: a file that exists is kept, and said so. Then `snakemake --cores 4` runs
the sweep there, offline, with its results in `results/` there.
"""

from __future__ import annotations

from pathlib import Path

from snakesweep import paths
from snakesweep.atomic import atomic_write

SWEEP_FILE = "sweep.yaml"
PROGRAM = "train.py"
PROFILE = "slurm/profile.yaml"

# The shipped config names the checkout's default sweep; a project's is its own sweep.yaml.
_CHECKOUT_SWEEP_LINE = "  file: configs/sweeps/grid.yaml\n"

SNAKEFILE = f"""# snakesweep's workflow as a Snakemake module: `snakemake --cores 4` runs the
# sweep in {SWEEP_FILE} with the settings in {paths.CONFIG_FILE}; `snakemake --profile slurm`
# on a SLURM cluster. Written by `snakesweep init`; see `snakesweep --help`.
from snakesweep import paths
from snakesweep.summary import failure_summary, success_summary


configfile: paths.CONFIG_FILE


module snakesweep:
    snakefile:
        str(paths.WORKFLOW_SNAKEFILE)
    config:
        config


use rule * from snakesweep


onsuccess:
    print(success_summary())


onerror:
    print(failure_summary())
"""


def init_project(folder: str | Path = ".") -> list[tuple[str, str]]:
    """Write what is missing; returns (path, "written" or "kept") for each file, in order."""
    folder = Path(folder)
    config = paths.DEFAULT_CONFIG.read_text()
    if _CHECKOUT_SWEEP_LINE not in config:
        raise RuntimeError(
            f"{paths.DEFAULT_CONFIG}: no `{_CHECKOUT_SWEEP_LINE.strip()}` line to point at "
            f"{SWEEP_FILE}"
        )
    files = {
        "Snakefile": SNAKEFILE,
        paths.CONFIG_FILE: config.replace(_CHECKOUT_SWEEP_LINE, f"  file: {SWEEP_FILE}\n"),
        PROFILE: paths.SLURM_PROFILE.read_text(),
    }
    if not (folder / SWEEP_FILE).exists() and not (folder / PROGRAM).exists():
        files.update({name: (paths.EXAMPLE / name).read_text() for name in (SWEEP_FILE, PROGRAM)})
    done = []
    for name, text in files.items():
        target = folder / name
        if target.exists():
            done.append((name, "kept"))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target, "w") as handle:
            handle.write(text)
        done.append((name, "written"))
    return done + [
        (name, "kept")
        for name in (SWEEP_FILE, PROGRAM)
        if name not in files and (folder / name).exists()
    ]
