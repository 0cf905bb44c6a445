"""One run of a small seeded training under ``mpiexec -n P`` (or alone, the 1-rank reference),
driven by tests/test_distribution_mpi.py. Every rank writes ``<out>.rank<r>.npz``: its weights
after fit, the History, evaluate's results and predict's output.

Usage: python worker.py OUT [--optimizer sgd] [--rows 64] [--batch 64] [--epochs 1] [--dropout 0.0]
       [--backend cpu] [--model mlp|cnn|bn] [--deterministic] [--fault RANK] [--mismatch RANK]
       [--no-shuffle] [--validation] [--steps-per-run N] [--devices gpu:0,gpu:1] [--bucket-bytes B]

With ``AXONAL_CUDA_HOST`` set, ``--backend cuda`` runs on the host emulation of the GPU (one
emulated device per rank, NCCL's collectives carried over MPI: tests/cuda_host/host_nccl.py).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--deterministic", action="store_true")
    parser.add_argument("--fault", type=int, default=-1)
    parser.add_argument("--mismatch", type=int, default=-1)
    parser.add_argument("--other-optimizer", type=int, default=-1)
    parser.add_argument("--no-shuffle", action="store_true")
    parser.add_argument("--validation", action="store_true")
    parser.add_argument("--checkpoint", default="")
    parser.add_argument("--raise-in-batch", type=int, default=-1)
    parser.add_argument("--raise-at-epoch-end", type=int, default=-1)
    parser.add_argument("--on-batch", action="store_true")
    parser.add_argument("--pydataset", action="store_true")
    parser.add_argument("--short-generator", type=int, default=-1)
    parser.add_argument("--steps-per-run", type=int, default=0)
    parser.add_argument("--devices", default="")
    parser.add_argument("--mpi-allreduce", action="store_true", help="shared_memory=False")
    parser.add_argument("--mpi-allreduce-on", type=int, default=-1, help="shared_memory=False on this rank only")
    parser.add_argument("--bucket-bytes", type=int, default=1 << 20)  # small: many buckets, reduced during backward
    args = parser.parse_args()

    if os.environ.get("AXONAL_CUDA_HOST"):  # the emulated GPU, as tests/conftest.py installs it
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from cuda_host import host_cupy
        host_cupy.install(os.environ["AXONAL_CUDA_HOST"])

    import axonal
    from axonal import layers
    from axonal.distribution import DataParallel, set_distribution

    axonal.set_backend(args.backend)
    if args.steps_per_run:  # runs of this many captured steps (the device executor's test knob)
        axonal.models.executors.device.STEPS_PER_RUN = args.steps_per_run
    dp = DataParallel(deterministic=args.deterministic, devices=args.devices.split(",") if args.devices else None,
                      shared_memory=not args.mpi_allreduce and args.mpi_allreduce_on != int(os.environ.get("PMI_RANK", -1)),
                      bucket_bytes=args.bucket_bytes)
    set_distribution(dp)
    rank = dp.rank

    rng = np.random.default_rng(0)
    if args.model in ("cnn", "augmented"):
        x = rng.normal(size=(args.rows, 8, 8, 2)).astype(np.float32)
    else:
        x = rng.normal(size=(args.rows, 12)).astype(np.float32)
    y = rng.integers(0, 3, size=args.rows)
    if args.mismatch == rank:
        x = x[:, :-1] if x.ndim == 2 else x  # a rank with other data shapes
    if args.fault == rank:
        x = x.copy()
        x[0, 0] = np.nan  # this rank's fit refuses its data before the first collective
    width = x.shape[1] if x.ndim == 2 else None

    axonal.set_seed(1234)
    if args.model == "cnn":
        model = axonal.Sequential([layers.Input((8, 8, 2)), layers.Conv2D(4, 3, activation="relu"),
                                   layers.SpatialDropout2D(args.dropout), layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(args.dropout),
                                   layers.Dense(3, activation="softmax")])
    elif args.model == "augmented":  # per-image draws by global image index, as dropout's masks
        model = axonal.Sequential([layers.Input((8, 8, 2)), layers.RandomFlip(), layers.RandomRotation(0.2),
                                   layers.RandomContrast(0.3), layers.Conv2D(4, 3, activation="relu"),
                                   layers.Flatten(), layers.Dense(3, activation="softmax")])
    elif args.model == "bn":
        model = axonal.Sequential([layers.Input((width,)), layers.Dense(16), layers.BatchNormalization(),
                                   layers.Activation("relu"), layers.Dense(3, activation="softmax")])
    else:
        model = axonal.Sequential([layers.Input((width,)), layers.Dense(16, activation="relu"),
                                   layers.Dropout(args.dropout), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam" if args.other_optimizer == rank else args.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if rank != 0:  # other ranks start from other weights and shuffles: fit must use rank 0's
        model.set_weights([w + 0.5 for w in model.get_weights()])
        model.shuffle_rng = np.random.default_rng(100 + rank)
    callbacks = []
    if args.checkpoint:  # every rank names its own files: only rank 0's may appear
        callbacks.append(axonal.callbacks.ModelCheckpoint(f"{args.checkpoint}.r{rank}.axonal"))
        callbacks.append(axonal.callbacks.CSVLogger(f"{args.checkpoint}.r{rank}.csv"))
    if args.raise_in_batch >= 0:  # every rank has the callback (the same executor); one raises from it
        class Boom(axonal.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if rank == args.raise_in_batch:
                    raise RuntimeError(f"boom at batch {batch}")
        callbacks.append(Boom())
    if args.raise_at_epoch_end >= 0:  # no batch hooks (a cuda fit stays on the device); one rank raises
        class EpochBoom(axonal.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if rank == args.raise_at_epoch_end:
                    raise RuntimeError(f"boom after epoch {epoch}")
        callbacks.append(EpochBoom())
    validation = (x[: max(1, args.rows // 4)], y[: max(1, args.rows // 4)]) if args.validation else None
    if args.on_batch:  # a hand-written loop: every rank passes the same global batches
        losses = [model.train_on_batch(x[i:i + args.batch], y[i:i + args.batch])
                  for _ in range(args.epochs) for i in range(0, args.rows, args.batch)]
        history = type("History", (), {"history": {"loss": [loss for loss, _ in losses]}})()
        evaluation = model.test_on_batch(x, y)
    elif args.short_generator >= 0:  # batches from a generator; one rank's yields one batch fewer
        def batches():
            stop = args.rows - (args.batch if rank == args.short_generator else 0)
            for i in range(0, stop, args.batch):
                yield x[i:i + args.batch], y[i:i + args.batch]
        history = model.fit(batches(), epochs=1, verbose=0)
        evaluation = np.zeros(1)
    elif args.pydataset:  # batches from a PyDataset (shuffled batch order), as a Keras script feeds them
        class Batches(axonal.utils.PyDataset):
            def __len__(self):
                return -(-args.rows // args.batch)

            def __getitem__(self, index):
                rows = slice(index * args.batch, (index + 1) * args.batch)
                return x[rows], y[rows]
        history = model.fit(Batches(), epochs=args.epochs, verbose=0, shuffle=not args.no_shuffle,
                            validation_data=(x[:20], y[:20]) if args.validation else None)
        evaluation = model.evaluate(Batches(), verbose=0)
    else:
        history = model.fit(x, y, batch_size=args.batch, epochs=args.epochs, verbose=0,
                            shuffle=not args.no_shuffle, validation_data=validation, callbacks=callbacks)
        evaluation = model.evaluate(x, y, batch_size=args.batch, verbose=0)
    predictions = model.predict(x, batch_size=args.batch, verbose=0)
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    for key, values in history.history.items():
        arrays[f"h_{key}"] = np.array(values)
    if args.checkpoint:  # load_model: rank 0 reads, every rank gets the model
        loaded = axonal.models.load_model(f"{args.checkpoint}.r0.axonal")
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
    reducer = getattr(dp, "_native_reducer", None)  # the native loop's, when it ran one
    arrays["shared_window"] = np.array(-1 if reducer is None else int(reducer.shared_window))
    np.savez(f"{args.out}.rank{rank}.npz", evaluation=np.array(evaluation), predictions=predictions,
             size=np.array(dp.size), device=np.array(-1 if dp.device_index is None else dp.device_index), **arrays)


if __name__ == "__main__":
    sys.exit(main())
