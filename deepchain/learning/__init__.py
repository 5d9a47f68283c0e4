"""Framework-free learning core: MNIST data and partitions (``data``), the paper's prototype
model and presets (``models``), local training and FedAvg (``local``), and the plaintext
baselines the encrypted runs are compared with (``experiment``).

Run ``python -m deepchain.learning.experiment --parties 4 --preset paper``.
"""
