"""The figure of docs/first_person.md: first-person frames of maze and laser tag (84x84).

    python docs/results/first_person/frames.py    # writes frames.png beside this file
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from distral_repro.envs import make_family

COLUMNS = 6


def main() -> None:
    fig, axes = plt.subplots(2, COLUMNS, figsize=(2 * COLUMNS, 4.3))
    for row, family in zip(axes, ("maze", "lasertag")):
        env = make_family(family, 1, seed=0, view="first_person", image_size=84)
        env.reset()
        actions = np.random.default_rng(0).integers(0, 6, (5, env.num_envs))
        for step in actions:
            obs = env.step(step)[0]
        for task, ax in enumerate(row):
            ax.imshow(obs[task].transpose(1, 2, 0))
            ax.set_title(f"{family} task {task}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(Path(__file__).with_name("frames.png"), dpi=80)


if __name__ == "__main__":
    main()
