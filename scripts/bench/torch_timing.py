"""The timing loop shared by the PyTorch peers of the benchmarks (torch_gpt.py for
bench/train_bench, torch_mixers.py for bench/mixer_bench): `warmup` untimed training steps,
then `steps` timed ones, with the process CPU utilisation (getrusage user+sys CPU seconds /
wall seconds; 2.0 = both cores busy) over the timed steps.
Not for: building models or batches (each peer does its own).
"""
import resource
import time


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_steps(step, warmup, steps):
    """step(i) runs training step i and returns its loss. Returns (last loss, wall seconds of
    the timed steps, CPU utilisation over them)."""
    for i in range(warmup):
        step(i)
    c0, t0 = cpu_seconds(), time.perf_counter()
    loss = 0.0
    for i in range(steps):
        loss = step(warmup + i)
    t1, c1 = time.perf_counter(), cpu_seconds()
    return loss, t1 - t0, (c1 - c0) / (t1 - t0)
