"""Run a package command with some env settings of a preset replaced (pilots only).

    python docs/results/pilots/with_env_settings.py default navigation.size=11 navigation.episode_length=200 \
        -- distral_repro.train --algo A3C --env navigation ...

Patches `distral_repro.envs.families.PRESETS[PRESET][FAMILY][KEY]` in this process, then runs
the module (`distral_repro.train`, `distral_repro.reference`) as `python -m` would. A pilot
made this way records its settings in its commands.sh; the settings a pilot justifies go into
`families.PRESETS` itself, so no published run depends on this script.
"""

import runpy
import sys

from distral_repro.envs import families

preset, *rest = sys.argv[1:]
cut = rest.index("--")
for item in rest[:cut]:
    key, value = item.split("=", 1)
    family, setting = key.split(".", 1)
    families.PRESETS[preset][family][setting] = type(families.PRESETS[preset][family][setting])(value)
module, *args = rest[cut + 1 :]
sys.argv = [module, *args]
runpy.run_module(module, run_name="__main__", alter_sys=True)
