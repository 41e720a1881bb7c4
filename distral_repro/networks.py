"""Columns of the Distral networks, with per-task parameters held as batched tensors.

Every column is the same torso (SPEC §4): a 3x3 convolution over the egocentric view,
a fully connected layer, an LSTM fed with the torso output, the previous action (one-hot)
and the previous reward, then a policy head. A :class:`Columns` module holds ``K`` such
columns side by side: every weight has a leading ``K`` axis and every layer is one
batched matmul, so one forward pass serves all tasks (K = number of tasks for the f_i
columns; K = 1 for the shared column h that serves every task).

First-person frames (``3 x S x S`` with S >= PIXEL_MIN_SIDE, envs/raycast.py) get a pixel
torso instead, chosen from the observation's size: Mnih et al. 2016's A3C network (conv 16
8x8 stride 4, conv 32 4x4 stride 2, fully connected 256, LSTM 256) for 84x84 frames and a
scaled version for smaller ones (:func:`pixel_torso_layers`), again with ``[K, ...]`` weights
run as grouped convolutions, one forward pass for all tasks.

Shapes: ``K`` columns, ``M`` rows per column (environments, or time x environments),
``C, V, V`` the observation, ``A`` actions, ``H`` hidden units.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KERNEL = 3
#: Observations at least this wide are camera frames (envs/raycast.py) and get the pixel torso.
PIXEL_MIN_SIDE = 16
#: The pixel torso's fully connected layer and LSTM width (Mnih et al. 2016).
PIXEL_HIDDEN = 256


def pixel_torso_layers(side: int) -> tuple[tuple[int, int, int], ...]:
    """(out_channels, kernel, stride) of the pixel torso's two convolutions for side x side frames.

    84 and up: Mnih et al. 2016's A3C network, conv 16 8x8 stride 4 then conv 32 4x4 stride 2
    (84 -> 20 -> 9). Smaller frames (16..83, e.g. the default 32): the same network scaled by
    about 2.5, conv 16 4x4 stride 2 then conv 32 3x3 stride 2 (32 -> 15 -> 7): the first layer's
    receptive field is again about a tenth of the frame and the final grid about 7-9 cells wide.
    """
    if side >= 84:
        return ((16, 8, 4), (32, 4, 2))
    if side >= PIXEL_MIN_SIDE:
        return ((16, 4, 2), (32, 3, 2))
    raise ValueError(f"frames must be at least {PIXEL_MIN_SIDE}x{PIXEL_MIN_SIDE} for the pixel torso, got {side}x{side}")


def conv_output_side(side: int, layers) -> int:
    """Side of the feature map after `layers` (no padding)."""
    for _, kernel, stride in layers:
        side = (side - kernel) // stride + 1
    return side
#: The torsos a column can have: the paper's (conv, fc, LSTM fed with the previous action and
#: reward) and a feed-forward one (conv, fc; no memory, no previous action or reward).
TORSOS = ("lstm", "feedforward")
#: Initialisations: torch's nn.Linear default (uniform +-1/sqrt(fan_in)), or orthogonal
#: with the standard gains of A2C/PPO baselines (docs/learner.md).
INITS = ("uniform", "orthogonal")


def _uniform(*shape: int, fan_in: int, gain: float = 1.0) -> nn.Parameter:
    """nn.Linear's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), times `gain`."""
    bound = gain / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class Columns(nn.Module):
    """``K`` independent CNN + LSTM columns with policy heads, batched over K.

    Args:
        num_columns: K.
        obs_shape: (C, V, V) of one observation.
        num_actions: A.
        hidden: H, width of the fully connected layer and the LSTM.
        conv_channels: output channels of the 3x3 convolution.
        torso: "lstm" (the paper's) or "feedforward" (no LSTM: the policy head reads the fully
            connected layer; :meth:`recur` passes its input through and the state is unused).
    """

    def __init__(self, num_columns: int, obs_shape: tuple[int, int, int], num_actions: int, hidden: int = 64,
                 conv_channels: int = 16, torso: str = "lstm"):
        super().__init__()
        if torso not in TORSOS:
            raise ValueError(f"unknown torso {torso!r}; valid: {', '.join(TORSOS)}")
        self.recurrent = torso == "lstm"
        channels, view, view_w = obs_shape
        if view != view_w or view < KERNEL:
            raise ValueError(f"observations must be square views of side >= {KERNEL}, got {obs_shape}")
        k = num_columns
        self.num_columns = k
        self.num_actions = num_actions
        self.pixels = view >= PIXEL_MIN_SIDE
        if self.pixels:
            hidden = PIXEL_HIDDEN
            self._init_pixel_torso(channels, view)
        self.hidden = hidden
        if not self.pixels:
            patch = channels * KERNEL * KERNEL
            self.positions = (view - KERNEL + 1) ** 2
            # im2col as one gather: flat input index of every (position, channel, ky, kx), in
            # F.unfold's order, so patches are exactly unfold's (and ~10x cheaper for tiny views).
            flat_index = torch.arange(channels * view * view, dtype=torch.float32).reshape(1, channels, view, view)
            self.patch_index = F.unfold(flat_index, KERNEL)[0].t().reshape(-1).long()  # [P * C*9]
            self.conv_w = _uniform(k, patch, conv_channels, fan_in=patch)
            self.conv_b = _uniform(k, 1, conv_channels, fan_in=patch)
            flat = conv_channels * self.positions
            self.fc_w = _uniform(k, flat, hidden, fan_in=flat)
            self.fc_b = _uniform(k, 1, hidden, fan_in=flat)
        if self.recurrent:
            lstm_in = hidden + num_actions + 1
            self.ih_w = _uniform(k, lstm_in, 4 * hidden, fan_in=hidden)
            self.hh_w = _uniform(k, hidden, 4 * hidden, fan_in=hidden)
            self.lstm_b = _uniform(k, 1, 4 * hidden, fan_in=hidden)
        # Small policy head: every column starts close to the uniform policy.
        self.pi_w = _uniform(k, hidden, num_actions, fan_in=hidden, gain=0.01)
        self.pi_b = nn.Parameter(torch.zeros(k, 1, num_actions))

    def _init_pixel_torso(self, channels: int, side: int) -> None:
        """Two convolutions and a fully connected layer (:func:`pixel_torso_layers`), ``[K, ...]`` weights.

        Initialised as every other layer here (nn.Conv2d's and nn.Linear's default bound
        1/sqrt(fan_in)); run for all K columns at once as grouped convolutions.
        """
        k = self.num_columns
        self.conv_layers = pixel_torso_layers(side)
        in_channels = channels
        for i, (out_channels, kernel, _) in enumerate(self.conv_layers, start=1):
            fan_in = in_channels * kernel * kernel
            setattr(self, f"conv{i}_w", _uniform(k, out_channels, in_channels, kernel, kernel, fan_in=fan_in))
            setattr(self, f"conv{i}_b", _uniform(k, out_channels, fan_in=fan_in))
            in_channels = out_channels
        flat = in_channels * conv_output_side(side, self.conv_layers) ** 2
        self.fc_w = _uniform(k, flat, PIXEL_HIDDEN, fan_in=flat)
        self.fc_b = _uniform(k, 1, PIXEL_HIDDEN, fan_in=flat)

    def _pixel_features(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``[K, M, 3, S, S]`` uint8 frames -> (last conv ``[K, M, 32*s*s]``, fc ``[K, M, PIXEL_HIDDEN]``),
        one grouped conv per layer."""
        k, m = obs.shape[:2]
        x = obs.transpose(0, 1).reshape(m, -1, *obs.shape[-2:]).float() / 255.0  # [M, K*C, S, S]
        for i, (out_channels, kernel, stride) in enumerate(self.conv_layers, start=1):
            w, b = getattr(self, f"conv{i}_w"), getattr(self, f"conv{i}_b")
            x = torch.relu(F.conv2d(x, w.reshape(k * out_channels, *w.shape[2:]), b.reshape(-1), stride=stride, groups=k))
        x = x.reshape(m, k, -1).transpose(0, 1)  # [K, M, 32 * s * s]
        return x, torch.relu(torch.baddbmm(self.fc_b, x, self.fc_w))

    def _window_features(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``[K, M, C, V, V]`` one-hot windows -> (conv ``[K, M, P*ch]``, fc ``[K, M, H]``) (3x3 conv as an
        im2col matmul, fc)."""
        k, m = obs.shape[:2]
        # Cast before gathering: index_select on float is ~5x faster than on uint8 (same values).
        x = obs.reshape(k * m, -1).float()
        patches = x.index_select(1, self.patch_index).reshape(k, m * self.positions, -1)  # [K, M*P, C*9]
        conv = torch.relu(torch.baddbmm(self.conv_b, patches, self.conv_w))  # [K, M*P, ch]
        conv = conv.reshape(k, m, -1)
        return conv, torch.relu(torch.baddbmm(self.fc_b, conv, self.fc_w))  # [K, M, H]

    def initial_state(self, rows_per_column: int) -> tuple[Tensor, Tensor]:
        """Zero LSTM state ``(h, c)``, each ``[K, M, H]``."""
        zeros = torch.zeros(self.num_columns, rows_per_column, self.hidden)
        return zeros, zeros.clone()

    def encode(self, obs: Tensor, prev_action: Tensor, prev_reward: Tensor) -> Tensor:
        """Non-recurrent part, batched over any number of rows.

        Args:
            obs: ``[K, M, C, V, V]`` uint8 or float observations.
            prev_action: ``[K, M]`` int64 previous actions.
            prev_reward: ``[K, M]`` float previous rewards.

        Returns:
            ``[K, M, 4H]`` LSTM input projections (x W_ih + b), ready for :meth:`recur`
            (feed-forward torso: ``[K, M, H]``, the fully connected layer's output).
        """
        _, features = self.torso(obs)
        if not self.recurrent:
            return features
        action = F.one_hot(prev_action, self.num_actions).to(features.dtype)
        lstm_in = torch.cat([features, action, prev_reward.unsqueeze(-1).to(features.dtype)], dim=-1)
        return torch.baddbmm(self.lstm_b, lstm_in, self.ih_w)

    def torso(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Convolution and fully connected layer: ``[K, M, C, V, V]`` -> (``[K, M, P*ch]``, ``[K, M, H]``).

        Both after their ReLU (``bench units`` counts the units that fire).
        """
        return self._pixel_features(obs) if self.pixels else self._window_features(obs)

    def recur(self, gates_in: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One LSTM step. ``gates_in``: ``[K, M, 4H]``; state ``(h, c)`` ``[K, M, H]``. Returns ``(h, (h, c))``.

        Feed-forward torso: ``gates_in`` is the torso's output ``[K, M, H]``, returned as it is
        (the state passes through unchanged).
        """
        if not self.recurrent:
            return gates_in, state
        h, c = state
        gates = gates_in + torch.bmm(h, self.hh_w)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)

    def logits(self, hidden: Tensor) -> Tensor:
        """Policy head: ``[K, M, H]`` -> ``[K, M, A]``."""
        return torch.baddbmm(self.pi_b, hidden, self.pi_w)


class TaskValueHeads(nn.Module):
    """One linear value head per task, batched: ``[num_tasks, M, H]`` -> ``[num_tasks, M]``."""

    def __init__(self, num_tasks: int, hidden: int):
        super().__init__()
        self.w = _uniform(num_tasks, hidden, 1, fan_in=hidden)
        self.b = nn.Parameter(torch.zeros(num_tasks, 1, 1))

    def forward(self, hidden: Tensor) -> Tensor:
        return torch.baddbmm(self.b, hidden, self.w).squeeze(-1)


class DistralNet(nn.Module):
    """The networks of one algorithm: an optional shared column h, optional per-task columns f.

    Args:
        num_tasks: tasks of the family (N environments are task-major, N = num_tasks * W).
        obs_shape, num_actions, hidden, conv_channels, torso: as :class:`Columns`.
        init: "uniform" (the constructors' U(+-1/sqrt(fan_in))) or "orthogonal" (:func:`orthogonal_init_`).
        has_h: build the shared column h (pi_0 = softmax(h)).
        has_f: build the per-task columns f_i.

    The value heads (one per task) sit on the f columns when there are any, otherwise on h
    (A3C_multitask). The task-policy logits are formed by the learner from ``h`` and ``f``.
    """

    def __init__(self, num_tasks: int, obs_shape, num_actions: int, has_h: bool, has_f: bool, hidden: int = 64,
                 conv_channels: int = 16, torso: str = "lstm", init: str = "uniform"):
        super().__init__()
        if not (has_h or has_f):
            raise ValueError("a network needs at least one column")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
        self.num_tasks = num_tasks
        self.h = Columns(1, obs_shape, num_actions, hidden, conv_channels, torso) if has_h else None
        self.f = Columns(num_tasks, obs_shape, num_actions, hidden, conv_channels, torso) if has_f else None
        width = (self.f or self.h).hidden  # the pixel torso sets its own width
        self.value = TaskValueHeads(num_tasks, width)
        if init == "orthogonal":
            orthogonal_init_(self)

    def columns(self) -> dict[str, Columns]:
        return {name: col for name, col in (("h", self.h), ("f", self.f)) if col is not None}

    def initial_state(self, num_envs: int) -> dict[str, tuple[Tensor, Tensor]]:
        """Zero LSTM states per column, ``[K, N/K, H]`` each."""
        return {name: col.initial_state(num_envs // col.num_columns) for name, col in self.columns().items()}

    def unroll(
        self,
        obs: Tensor,
        prev_action: Tensor,
        prev_reward: Tensor,
        starts: Tensor,
        state: dict[str, tuple[Tensor, Tensor]],
        columns: tuple[str, ...] | None = None,
        state_after: int | None = None,
    ) -> tuple[dict[str, Tensor], Tensor | None, dict[str, tuple[Tensor, Tensor]]]:
        """Run all columns over ``T`` steps of ``N`` task-major environments.

        Args:
            obs: ``[T, N, C, V, V]``.
            prev_action: ``[T, N]`` int64 (0 at an episode's first step).
            prev_reward: ``[T, N]`` float (0 at an episode's first step).
            starts: ``[T, N]`` bool, true at an episode's first step (the LSTM state is zeroed).
            state: LSTM state per column before step 0.
            columns: run only these columns (default all); the values need the column
                that carries the value heads ("f" if present, else "h").
            state_after: return the LSTM state after this many steps (default ``T``).

        Returns:
            ``logits`` {"h": [T, N, A], "f": [T, N, A]} (those run), ``values`` ``[T, N]``
            (None if the value column was not run), and the LSTM state per column.
        """
        steps, n = obs.shape[:2]
        state_after = steps if state_after is None else state_after
        hiddens: dict[str, Tensor] = {}
        new_state = {}
        for name, col in self.columns().items():
            if columns is not None and name not in columns:
                continue
            k = col.num_columns
            m = n // k
            gates = col.encode(group_by_column(obs, steps, k), group_by_column(prev_action, steps, k), group_by_column(prev_reward, steps, k))
            gates = gates.reshape(k, steps, m, -1)
            keep = (~group_by_column(starts, steps, k)).reshape(k, steps, m, 1).to(gates.dtype)
            h, c = state[name]
            outs = []
            for t, (gates_t, keep_t) in enumerate(zip(gates.unbind(1), keep.unbind(1))):
                h, (_, c) = col.recur(gates_t, (h * keep_t, c * keep_t))
                outs.append(h)
                if t + 1 == state_after:
                    new_state[name] = (h, c)
            hiddens[name] = torch.stack(outs, dim=1)  # [K, T, M, H]
        logits, values = self.heads(hiddens)
        return logits, values, new_state

    def heads(self, hiddens: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
        """Policy logits and values from the recurrent outputs of an unroll.

        Args:
            hiddens: per column run, its LSTM outputs ``[K, T, M, H]`` (``M = N / K``).

        Returns:
            ``logits`` {"h": [T, N, A], "f": [T, N, A]} (the columns given) and ``values``
            ``[T, N]`` (None when the value column is not among them), as :meth:`unroll`.
        """
        logits: dict[str, Tensor] = {}
        for name, hidden in hiddens.items():
            k, steps, m = hidden.shape[:3]
            logits[name] = _ungroup(self.columns()[name].logits(hidden.reshape(k, steps * m, -1)), steps, k, m)
        value_source = "f" if self.f is not None else "h"
        if value_source not in hiddens:
            return logits, None
        hidden = hiddens[value_source]  # [K, T, M, H]
        k, steps, m = hidden.shape[:3]
        n = k * m
        workers = n // self.num_tasks
        by_task = hidden.transpose(0, 1).reshape(steps, self.num_tasks, workers, -1).transpose(0, 1)
        values = self.value(by_task.reshape(self.num_tasks, steps * workers, -1))  # [tasks, T*W]
        values = values.reshape(self.num_tasks, steps, workers).transpose(0, 1).reshape(steps, n)
        return logits, values


#: Gains of the orthogonal initialisation, the standard ones of A2C/PPO baselines (SB3's
#: ActorCriticPolicy, CleanRL's layer_init): sqrt(2) before a ReLU, 1 into the LSTM and the
#: value, 0.01 for the policy (every column starts close to the uniform policy).
ORTHOGONAL_GAINS = {"conv_w": math.sqrt(2.0), "conv1_w": math.sqrt(2.0), "conv2_w": math.sqrt(2.0), "fc_w": math.sqrt(2.0), "ih_w": 1.0, "hh_w": 1.0, "pi_w": 0.01, "w": 1.0}


@torch.no_grad()
def orthogonal_init_(net: nn.Module) -> None:
    """Re-initialise `net` in place: every weight ``[K, in, out]`` orthogonal per column with
    :data:`ORTHOGONAL_GAINS` (torch.nn.init.orthogonal_ on each ``[in, out]`` slice), every
    bias zero. Why: with the uniform default the recurrent column's value varied across
    observations ~90x less than with orthogonal weights (issue 29, docs/learner.md)."""
    for name, param in net.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ORTHOGONAL_GAINS:
            for column in param:
                nn.init.orthogonal_(column, gain=ORTHOGONAL_GAINS[leaf])
        elif leaf == "b" or leaf.endswith("_b"):
            param.zero_()
        else:  # a new layer must say its gain here rather than start at zero unnoticed
            raise ValueError(f"orthogonal_init_: no gain for parameter {name!r}; add it to ORTHOGONAL_GAINS")


def group_by_column(x: Tensor, steps: int, k: int) -> Tensor:
    """``[T, N, ...]`` -> ``[K, T*M, ...]``: the rows of each column together, time-major within it."""
    m = x.shape[1] // k
    x = x.reshape(steps, k, m, *x.shape[2:]).transpose(0, 1)
    return x.reshape(k, steps * m, *x.shape[3:])


def _ungroup(x: Tensor, steps: int, k: int, m: int) -> Tensor:
    """``[K, T*M, ...]`` -> ``[T, N, ...]`` (inverse of :func:`group_by_column`)."""
    x = x.reshape(k, steps, m, *x.shape[2:]).transpose(0, 1)
    return x.reshape(steps, k * m, *x.shape[3:])
