#!/bin/sh
# The peer check's runs, one at a time, one thread each (README.md of this folder).
#   sh docs/results/peers/run.sh LEARNER TASK SEED [LEARNER TASK SEED ...]
# LEARNER: a3c_lstm (the package's default torso), a3c_ff (--hyper torso=feedforward),
#          a3c_ff_loss / a3c_lstm_loss (the same with --hyper entropy_form=loss), sb3 (SB3 A2C, matched;
#          needs SB3_PYTHON, a python with stable-baselines3==2.9.2, default python).
# TASK: doorkey, lavagap, emptyrandom (families.yaml). A run whose output exists is skipped.
set -e
here=docs/results/peers
while [ $# -ge 3 ]; do
  learner=$1; task=$2; seed=$3; shift 3
  out=$here/runs/${learner}_${task}_seed${seed}
  case $task in
    doorkey) id=MiniGrid-DoorKey-5x5-v0; steps=200000 ;;
    lavagap) id=MiniGrid-LavaGapS5-v0; steps=150000 ;;
    emptyrandom) id=MiniGrid-Empty-Random-5x5-v0; steps=100000 ;;
    *) echo "unknown task $task" >&2; exit 2 ;;
  esac
  case $learner in
    a3c_lstm) hyper="" ;;
    a3c_ff) hyper="--hyper torso=feedforward" ;;
    a3c_lstm_loss) hyper="--hyper entropy_form=loss" ;;
    a3c_ff_loss) hyper="--hyper torso=feedforward --hyper entropy_form=loss" ;;
    sb3) hyper="" ;;
    *) echo "unknown learner $learner" >&2; exit 2 ;;
  esac
  if [ "$learner" = sb3 ]; then
    [ -f "$out.csv" ] && continue
    /usr/bin/time -f "%U %S" -o "$out.time" "${SB3_PYTHON:-python}" $here/sb3_a2c.py --env-id $id --seed "$seed" --steps $steps --out "$out.csv"
  else
    [ -f "$out/summary.json" ] && continue
    /usr/bin/time -f "%U %S" -o "$out.time" python -m distral_repro.train --algo A3C --env "$task" \
      --env-file $here/families.yaml --beta 1000 --lr 4e-3 --seed "$seed" --out "$out" --threads 1 --quiet $hyper
  fi
done
