"""Every timing helper, baseline and load generator behind `digitlab bench` (importable from an installed wheel).

- stats.py: ``latency_summary``, the one percentile summary every benchmark reports;
- timing.py: throughput, single-call latencies, the CPU's fp32 matmul roof; machine.py: where it was measured;
- runtimes.py: each deploy runtime of a model as a function (eager, TorchScript, ONNX Runtime fp32/int8, C);
- infer.py, predict.py, train.py, serve.py (+ loadgen.py), load.py, startup.py: one benchmark each, returning
  the JSON document its `digitlab bench NAME` command prints (cli/bench_*.py only parse flags and print);
- baseline_fast_mnist.py: the fastest published MNIST recipe, the baseline of `bench train`.

Nothing here imports benchmarks/: those scripts import this package, never the other way round.
"""
