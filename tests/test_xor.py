"""End to end: a small seeded network learns XOR, on every available backend."""
import numpy as np
import pytest

import axonal
from axonal.layers import Dense, Input
from axonal.models import Sequential
from axonal.optimizers import Adam

pytestmark = pytest.mark.usefixtures("backend")

XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
XOR_LABELS = np.array([0, 1, 1, 0])


def test_xor_reaches_full_accuracy():
    axonal.set_seed(42)
    model = Sequential([Input(shape=(2,)), Dense(8, activation="tanh"), Dense(1, activation="sigmoid")])
    model.compile(optimizer=Adam(learning_rate=0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(XOR_INPUTS, XOR_LABELS, batch_size=4, epochs=300, verbose=0)

    loss, accuracy = model.evaluate(XOR_INPUTS, XOR_LABELS, verbose=0)
    assert accuracy == 1.0 and history.history["accuracy"][-1] == 1.0
    assert loss < 0.1
    predictions = model.predict(XOR_INPUTS, verbose=0)
    np.testing.assert_array_equal((predictions[:, 0] > 0.5).astype(int), XOR_LABELS)
