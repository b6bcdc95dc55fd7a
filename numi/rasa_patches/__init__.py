"""numi's changes to Rasa 3.6.21, each named, versioned and tested against Rasa's original.

* `patch`: what a patch is (`Patch`: the Rasa target it replaces, the Rasa versions it was
  written for, its implementation) and how one is applied (version check, Rasa's original
  kept in `ORIGINALS`);
* `speedups`: hot spots of Rasa fixed without changing behaviour (README, « Benchmarks »);
* `faults`: faults Rasa hides, made visible and survivable (README, « Reliability »);
* `stores`: the tracker store and lock store named in endpoints.yml, and `tracker_url`;
* `startup.install()`: every patch, applied once, explicitly, by the Rasa process's entry
  point `python -m numi.rasa_main` (scripts/run.sh, numi/devstack.py).

Nothing is patched by importing these modules, nor by constructing a store.
"""
