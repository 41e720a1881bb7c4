"""Stable-Baselines3 A2C matched to the package's A3C, on one MiniGrid task (the peer check).

    python docs/results/peers/sb3_a2c.py --env-id MiniGrid-DoorKey-5x5-v0 --seed 0 \
        --steps 200000 --out docs/results/peers/runs/sb3_doorkey_seed0.csv

Run in its own environment (SB3 is no dependency of the package; README of this folder). Matched
to `python -m distral_repro.train --algo A3C --beta 1000 --lr 4e-3` on the families of
families.yaml: the same observation (distral_repro's MiniGridOneHot, (20, 7, 7)), episode cap
100, 16 envs, n_steps 20 (unroll), gamma 0.99, n-step returns (gae_lambda 1), RMSprop (alpha
0.99, eps 1e-7), lr 4e-3, entropy weight 1/beta = 1e-3 (SB3's loss bonus), value weight 0.25
(the package's 0.5 x 0.5 (G - V)^2), gradient norm clip 40, and the package's conv (16 3x3
filters) + fully connected (64) torso without the LSTM; SB3's orthogonal initialisation.
Writes one row per finished episode: the env steps so far (all envs), and the return.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time

import gymnasium
import minigrid  # noqa: F401  registers the MiniGrid ids
import torch
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from distral_repro.envs.custom import MiniGridOneHot


class ConvFC(BaseFeaturesExtractor):
    """The package's torso without the LSTM: conv 16 x 3x3 (valid), ReLU, fc 64, ReLU."""

    def __init__(self, observation_space: gymnasium.spaces.Box, hidden: int = 64, channels: int = 16):
        super().__init__(observation_space, features_dim=hidden)
        c, v, _ = observation_space.shape
        self.net = nn.Sequential(
            nn.Conv2d(c, channels, 3), nn.ReLU(), nn.Flatten(),
            nn.Linear(channels * (v - 2) ** 2, hidden), nn.ReLU(),
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


class EpisodeLog(BaseCallback):
    """Every finished episode's (env steps so far, return)."""

    def __init__(self):
        super().__init__()
        self.rows: list[tuple[int, float]] = []

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.rows.append((self.num_timesteps, float(info["episode"]["r"])))
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--beta", type=float, default=1000.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)

    def wrap(env):
        return MiniGridOneHot(env)

    env = make_vec_env(args.env_id, n_envs=16, seed=args.seed, wrapper_class=wrap,
                       env_kwargs={"max_episode_steps": 100})
    model = A2C(
        "MlpPolicy", env, learning_rate=args.lr, n_steps=20, gamma=0.99, gae_lambda=1.0,
        ent_coef=1.0 / args.beta, vf_coef=0.25, max_grad_norm=40.0, rms_prop_eps=1e-7, use_rms_prop=True,
        normalize_advantage=False, seed=args.seed, device="cpu",
        policy_kwargs={"features_extractor_class": ConvFC, "net_arch": [], "normalize_images": False,
                       "optimizer_kwargs": {"alpha": 0.99, "eps": 1e-7, "weight_decay": 0}},
    )
    log = EpisodeLog()
    start = time.process_time()
    model.learn(total_timesteps=args.steps, callback=log)
    seconds = time.process_time() - start
    directory = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "episode_return"])
        writer.writerows(log.rows)
    os.replace(fh.name, args.out)
    print(f"{args.env_id} seed {args.seed}: {len(log.rows)} episodes, {seconds:.1f} CPU-seconds", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
