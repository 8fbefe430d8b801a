"""One training epoch of the MNIST seed network on each backend (fastconv, reference, PyTorch), for benchmarks."""
import numpy as np


def mnist_arrays(limit=None):
    from .datasets import mnist

    (x, y), _ = mnist.load_data()
    if limit:
        x, y = x[:limit], y[:limit]
    return (x[..., None].astype(np.float32) / 255.0), y.astype(np.int64)


def fastconv_epoch(backend, x, y, batch_size=32, seed=0):
    """A callable training one epoch of a fresh fastconv.nn seed model on `backend`."""
    from .nn import set_random_seed, zoo

    set_random_seed(seed)
    model = zoo.mnist_seed(backend=backend)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    return lambda: model.fit(x, y, batch_size=batch_size, epochs=1, seed=seed, verbose=0)


def torch_epoch(x, y, batch_size=32, seed=0):
    """The same network, loss, optimizer (Keras's Adam epsilon) and batching in PyTorch; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(1014, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)
    rng = np.random.default_rng(seed)

    def epoch():
        order = torch.from_numpy(rng.permutation(len(xt)))
        for i in range(0, len(xt), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    return epoch
