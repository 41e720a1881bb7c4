"""Issue 29: the torso's start (orthogonal init, RMSProp's first step, warm-up), the feed-forward
torso, the entropy as a loss bonus, a family's own learner settings, and `bench units`' numbers."""

import math

import pytest
import torch

from distral_repro import objective
from distral_repro.bench.units import live_fraction, spread
from distral_repro.config import ConfigError, Hyper, make_hyper, make_run_config
from distral_repro.envs.specs import parse_family
from distral_repro.networks import ORTHOGONAL_GAINS, DistralNet
from distral_repro.optim import RMSProp, warmup_factor

OBS = (3, 5, 5)


def test_first_square_start_moves_every_weight_by_about_lr():
    """square_avg = g^2 at the first step: p moves by lr * g / (|g| + eps); torch's start moves 10x that."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = RMSProp([p], lr=0.1, alpha=0.99, eps=1e-5, square_start="first")
    p.grad = torch.tensor([0.5, -4.0])
    opt.step()
    assert p.detach().tolist() == pytest.approx([1.0 - 0.1 * 0.5 / (0.5 + 1e-5), -2.0 + 0.1 * 4.0 / (4.0 + 1e-5)], abs=1e-6)
    # The second step decays as usual: 0.99 * 0.25 + 0.01 * 1.0 = 0.2575 for the first weight.
    p.grad = torch.tensor([1.0, 0.0])
    opt.step()
    assert opt.square_avg[0].tolist() == pytest.approx([0.2575, 0.99 * 16.0])


def test_warmup_factor_by_hand_and_in_the_step():
    assert [warmup_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0
    p = torch.nn.Parameter(torch.tensor([0.0]))
    opt = RMSProp([p], lr=0.1, alpha=0.5, eps=1e-8, square_start="first", warmup=4)
    p.grad = torch.tensor([2.0])
    opt.step()  # lr 0.025, g / sqrt(g^2) = 1
    assert p.item() == pytest.approx(-0.025)


def test_optimizer_state_round_trips_with_the_new_fields():
    params = [torch.nn.Parameter(torch.ones(3))]
    opt = RMSProp(params, lr=0.1, square_start="first", warmup=3)
    params[0].grad = torch.ones(3)
    opt.step()
    other = RMSProp([torch.nn.Parameter(torch.ones(3))], lr=0.1)
    other.load_state_dict(opt.state_dict())
    assert (other.square_start, other.warmup, other.started, other.steps) == ("first", 3, [True], 1)
    with pytest.raises(ValueError, match="square_start"):
        RMSProp(params, lr=0.1, square_start="one")


def test_orthogonal_init_has_the_standard_gains_and_zero_biases():
    torch.manual_seed(0)
    net = DistralNet(2, OBS, 6, has_h=True, has_f=True, init="orthogonal")
    for name, param in net.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf not in ORTHOGONAL_GAINS:
            assert torch.count_nonzero(param) == 0, name
            continue
        gain = ORTHOGONAL_GAINS[leaf]
        for column in param:  # [in, out]: the smaller side has orthonormal vectors times gain
            gram = column.T @ column if column.shape[0] >= column.shape[1] else column @ column.T
            assert torch.allclose(gram, gain**2 * torch.eye(gram.shape[0]), atol=1e-5 * max(1.0, gain**2)), name
    with pytest.raises(ValueError, match="unknown init"):
        DistralNet(2, OBS, 6, has_h=True, has_f=True, init="xavier")


def test_feedforward_torso_has_no_memory():
    """No LSTM parameters; the output ignores the state, the previous action and reward and episode starts."""
    torch.manual_seed(0)
    net = DistralNet(2, OBS, 4, has_h=True, has_f=True, torso="feedforward", init="orthogonal")
    assert not any("ih_w" in n or "hh_w" in n or "lstm_b" in n for n, _ in net.named_parameters())
    steps, n = 3, 4
    obs = torch.randint(0, 2, (steps, n, *OBS)).float()
    zeros = torch.zeros(steps, n, dtype=torch.int64)
    logits, values, _ = net.unroll(obs, zeros, zeros.float(), torch.zeros(steps, n, dtype=torch.bool), net.initial_state(n))
    other = torch.randint(0, 4, (steps, n))
    state = {k: (torch.randn_like(h), torch.randn_like(c)) for k, (h, c) in net.initial_state(n).items()}
    logits2, values2, _ = net.unroll(obs, other, torch.randn(steps, n), torch.ones(steps, n, dtype=torch.bool), state)
    assert torch.equal(values, values2) and all(torch.equal(logits[k], logits2[k]) for k in logits)
    with pytest.raises(ValueError, match="unknown torso"):
        DistralNet(2, OBS, 4, has_h=True, has_f=True, torso="gru")


def test_entropy_bonus_loss_by_hand():
    """Uniform over 4 actions: H = log 4, so the bonus is -log(4) / beta."""
    logits = torch.zeros(2, 3, 4)
    assert objective.entropy_bonus_loss(logits, 10.0).item() == pytest.approx(-math.log(4) / 10.0)
    # Two actions with probabilities 0.8 / 0.2.
    p = torch.tensor([0.8, 0.2])
    h = -(p * p.log()).sum().item()
    assert objective.entropy_bonus_loss(p.log()[None], 2.0).item() == pytest.approx(-h / 2.0, rel=1e-6)


def test_loss_form_keeps_the_raw_reward_and_adds_the_bonus():
    torch.manual_seed(0)
    logits = torch.randn(3, 2, 4, requires_grad=True)
    actions = torch.randint(0, 4, (3, 2))
    rewards, dones = torch.randn(3, 2), torch.zeros(3, 2, dtype=torch.bool)
    values, bootstrap = torch.randn(3, 2), torch.randn(2)
    kw = dict(gamma=0.9, alpha=0.0, beta=5.0, value_cost=0.5)
    loss = objective.actor_critic_loss(logits, actions, rewards, dones, values, bootstrap, entropy_form="loss", **kw)
    returns = objective.n_step_returns(rewards, dones, bootstrap, 0.9)
    expected = (objective.policy_gradient_loss(objective.action_log_probs(logits, actions), returns - values)
                + 0.5 * objective.value_loss(values, returns) + objective.entropy_bonus_loss(logits, 5.0))
    assert loss.total.item() == pytest.approx(expected.item(), rel=1e-6)
    eq1 = objective.actor_critic_loss(logits, actions, rewards, dones, values, bootstrap, **kw)
    assert eq1.total.item() != pytest.approx(loss.total.item())
    with pytest.raises(ValueError, match="alpha = 0 only"):
        objective.actor_critic_loss(logits, actions, rewards, dones, values, bootstrap, entropy_form="loss",
                                    gamma=0.9, alpha=0.5, beta=5.0, pi0_logits=logits)


def test_hyper_choices_and_the_entropy_forms_algorithms():
    assert make_hyper({"torso": "feedforward", "lr_warmup": "0"}) == Hyper(torso="feedforward", lr_warmup=0)
    with pytest.raises(ConfigError, match="torso must be one of lstm, feedforward"):
        make_hyper({"torso": "gru"})
    with pytest.raises(ConfigError, match="lr_warmup must be an integer >= 0"):
        make_hyper({"lr_warmup": "-1"})
    assert make_run_config("A3C", "maze", 100, 1e-3, 0, hyper_overrides={"entropy_form": "loss"}).hyper.entropy_form == "loss"
    with pytest.raises(ConfigError, match="entropy-only algorithms .*A3C_multitask.*not KL_1col"):
        make_run_config("KL_1col", "maze", 100, 1e-3, 0, hyper_overrides={"entropy_form": "loss"})


FAMILY = {"env_ids": ["minigrid:MiniGrid-Empty-5x5-v0"], "wrappers": ["minigrid_onehot"], "episode_cap": 50,
          "budget": {"steps_per_task": 1000, "workers": 2, "unroll": 5}}


def test_a_family_chooses_its_torso_and_the_command_overrides_it():
    families = {"mg": {**FAMILY, "learner": {"torso": "feedforward", "entropy_form": "loss"}}}
    config = make_run_config("A3C", "mg", 100, 1e-3, 0, families=families)
    assert (config.hyper.torso, config.hyper.entropy_form) == ("feedforward", "loss")
    assert config.family["learner"] == {"torso": "feedforward", "entropy_form": "loss"}
    config = make_run_config("A3C", "mg", 100, 1e-3, 0, families=families, hyper_overrides={"torso": "lstm"})
    assert config.hyper.torso == "lstm"
    assert "learner" not in make_run_config("A3C", "mg", 100, 1e-3, 0, families={"mg": FAMILY}).family
    with pytest.raises(ValueError, match="family 'mg': learner: torso must be one of"):
        parse_family("mg", {**FAMILY, "learner": {"torso": "cnn"}})


def test_units_numbers_by_hand():
    acts = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]]])  # [K=1, M=2, U=3]: unit 0 never fires
    assert live_fraction(acts).tolist() == pytest.approx([2 / 3])
    values = torch.tensor([[1.0, 3.0], [2.0, 2.0]])  # [G=2, M=2]: std 1 and 0
    assert spread(values).tolist() == [1.0, 0.0]
    assert spread(torch.ones(3, 1)).tolist() == [0.0, 0.0, 0.0]


def test_a_run_recorded_before_the_new_settings_verifies_as_it_trained():
    """summary.json of older runs lacks the new keys: they mean the old init and RMSProp start."""
    from dataclasses import asdict

    from distral_repro.config import hyper_from_record

    old = {k: v for k, v in asdict(Hyper()).items()
           if k not in ("torso", "init", "rmsprop_square_start", "lr_warmup", "entropy_form")}
    hyper = hyper_from_record(old)
    assert (hyper.init, hyper.rmsprop_square_start, hyper.torso, hyper.entropy_form) == ("uniform", "zero", "lstm", "reward")
    assert hyper_from_record(asdict(Hyper())) == Hyper()


def test_bench_units_measures_a_short_run_and_rejects_bad_input(tmp_path, capsys):
    import pandas as pd

    from distral_repro.bench.units import main

    out = tmp_path / "units.csv"
    assert main(["--env", "maze", "--preset", "smoke", "--at", "0", "1", "--probe-steps", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["update"].tolist() == [0, 1, 40]  # before the first update, after it, the end
    assert table[["conv_live", "fc_live"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (table["value_std"] > 0).all() and table["return"].iloc[:2].isna().all()
    assert main(["--env", "maze", "--hyper", "torso=gru"]) == 2
    assert "torso must be one of lstm, feedforward" in capsys.readouterr().err
