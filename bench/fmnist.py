"""What the PyTorch bench scripts share: Fashion-MNIST read from its IDX files (Debian's
dataset-fashion-mnist, or NABLA_DATA) and nabla's cnn as an nn.Sequential."""
import gzip, os

import numpy as np
import torch
import torch.nn as nn

DATA = os.environ.get("NABLA_DATA", "/usr/share/datasets/fashion-mnist")


def idx(data, name):
    """An IDX file (gzipped or not) of data as a uint8 array of its shape."""
    path = os.path.join(data, name)
    raw = gzip.open(path + ".gz").read() if os.path.exists(path + ".gz") else open(path, "rb").read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(dims)


def split(data, prefix):
    """Images (N, 1, 28, 28) scaled to [0, 1] and labels (N) of "train" or "t10k"."""
    x = torch.tensor(idx(data, prefix + "-images-idx3-ubyte"), dtype=torch.float32).div_(255).unsqueeze(1)
    return x, torch.tensor(idx(data, prefix + "-labels-idx1-ubyte"), dtype=torch.long)


def cnn():
    """nabla's built-in cnn."""
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))
