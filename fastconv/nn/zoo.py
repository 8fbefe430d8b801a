"""The networks `fastconv train` knows, built uncompiled for 28x28x1 inputs (channels_last, like Keras)."""
from .layers import Activation, Conv2D, Dense, Flatten, MaxPool2D
from .models import Sequential


def mnist_seed(backend="fastconv"):
    """The classic small MNIST CNN: conv 6@2x2, relu, 2x2 max pool, dense 10, softmax (10,180 parameters)."""
    model = Sequential(name="mnist_seed", backend=backend)
    model.add(Conv2D(6, (2, 2), input_shape=(28, 28, 1)))
    model.add(Activation("relu"))
    model.add(MaxPool2D())
    model.add(Flatten())
    model.add(Dense(10))
    model.add(Activation("softmax"))
    return model


def lenet5(backend="fastconv"):
    """LeNet-5 with ReLU: conv 6@5x5 pad 2, pool, conv 16@5x5, pool, dense 120, 84, 10 (61,706 parameters)."""
    model = Sequential(name="lenet5", backend=backend)
    model.add(Conv2D(6, (5, 5), padding="same", activation="relu", input_shape=(28, 28, 1)))
    model.add(MaxPool2D())
    model.add(Conv2D(16, (5, 5), activation="relu"))
    model.add(MaxPool2D())
    model.add(Flatten())
    model.add(Dense(120, activation="relu"))
    model.add(Dense(84, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    return model


MODELS = {"seed": mnist_seed, "lenet5": lenet5}
