#!/usr/bin/python3
"""Writes the fuzz targets' seed corpus (fuzz/corpus/<target>/): small valid inputs and a few
near misses for each reader, so that libFuzzer starts from the formats rather than from nothing.
Needs NumPy (Debian: python3-numpy); run from anywhere: /usr/bin/python3 fuzz/make_corpus.py"""
import gzip, io, json, os, struct
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))

def put(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def npy(a, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, a)
    else:
        np.lib.format.write_array(b, a, version=version)
    return b.getvalue()

rng = np.random.default_rng(0)
# npy
put("npy", "f4_vector", npy(rng.standard_normal(5).astype("<f4")))
put("npy", "f8_matrix", npy(rng.standard_normal((3, 4))))
put("npy", "i8_scalar", npy(np.array(7, dtype="<i8")))
put("npy", "f8_fortran", npy(np.asfortranarray(rng.standard_normal((2, 3)))))
put("npy", "f8_bigendian", npy(rng.standard_normal(3).astype(">f8")))
put("npy", "u1_unsupported", npy(np.arange(4, dtype="u1")))
put("npy", "f4_empty", npy(np.zeros((0, 3), dtype="<f4")))
put("npy", "f8_4d", npy(rng.standard_normal((2, 1, 2, 2))))
put("npy", "v2_header", npy(rng.standard_normal(2), version=(2, 0)))
put("npy", "truncated", npy(rng.standard_normal(8))[:-5])

# idx
def idx_images(n, r, c):
    return struct.pack(">IIII", 0x803, n, r, c) + bytes(rng.integers(0, 256, n * r * c, dtype=np.uint8))
def idx_labels(n):
    return struct.pack(">II", 0x801, n) + bytes(rng.integers(0, 10, n, dtype=np.uint8))
put("idx", "images", idx_images(3, 2, 2))
put("idx", "images_gz", gzip.compress(idx_images(2, 3, 3), mtime=0))
put("idx", "labels", idx_labels(5))
put("idx", "labels_gz", gzip.compress(idx_labels(4), mtime=0))
put("idx", "images_claims_too_much", struct.pack(">IIII", 0x803, 60000, 28, 28) + b"\0" * 16)
put("idx", "labels_trailing", idx_labels(2) + b"\1")

# csv
put("csv", "header", "x1,x2,label\n0.5,1.5,0\n-1,2e3,1\n3,4,2\n")
put("csv", "plain", "1,2,0\n3,4,1\n")
put("csv", "spaces", " 1.0 , 2.0 , 1\n3.0,4.0,0\r\n")
put("csv", "ragged", "1,2,0\n1,2\n")
put("csv", "fractional_label", "1,2,0.5\n")
put("csv", "nan_inf", "nan,inf,0\n-inf,1,1\n")

# checkpoint: the first byte picks the file of the fixture's checkpoint that the rest replaces
# (22 files: 9 model entries and 12 Adam moments in sorted order, then tapegrad.json)
for k, a in enumerate([rng.standard_normal((4, 3)), rng.standard_normal(4), np.array(3, dtype="<i8"),
                       rng.standard_normal((2, 4)), rng.standard_normal(2)]):
    put("checkpoint", f"entry_{k}", bytes([k * 4]) + npy(a))
manifest = {"format": "tapegrad-model", "version": 1, "dtype": "float64",
            "entries": ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias",
                        "1.running_mean", "1.running_var", "1.num_batches_tracked"],
            "training": {"epoch": 1, "batches_done": 0, "loss_sum": 0.5, "hits": 2, "seconds": 0.01,
                         "settings": {}, "history": [{"epoch": 1, "train_loss": 0.5, "train_acc": 0.5,
                                                      "test_acc": 0.0, "seconds": 0.01}],
                         "generators": {"3.generator": "5489"},
                         "optimizer": {"arrays": [f"{i}.{m}" for i in range(6) for m in ("exp_avg", "exp_avg_sq")],
                                       "counters": {"step": 1}}}}
put("checkpoint", "manifest", bytes([21]) + json.dumps(manifest, indent=1).encode())
put("checkpoint", "manifest_no_training", bytes([21]) + json.dumps({k: v for k, v in manifest.items() if k != "training"}).encode())

# cli: arguments separated by NUL bytes
for name, args in {
    "walkthrough": ["walkthrough", "--format", "json", "--n", "8", "--d", "3"],
    "compare": ["compare", "--impl", "composite", "--repeats", "5", "--eps", "1e-3"],
    "bn_files": ["bn", "--x", "x.npy", "--dy", "dy.npy", "--mode", "eval", "--convention", "cs231n"],
    "bn_random": ["bn", "--n", "16", "--d", "4", "--momentum", "0.2", "--no-affine"],
    "train": ["train", "--data", "spirals", "--samples", "200", "--hidden", "32,16", "--bn", "fused",
              "--dropout", "0.1", "--optim", "sgd", "--momentum", "0.9", "--nesterov", "--epochs", "2"],
    "train_csv": ["train", "--data", "csv:data.csv", "--test-fraction", "0.3", "--scale", "unit", "--lr", "1e-2"],
    "resume": ["train", "--resume", "runs/a", "--epochs", "20", "--log", "a.csv", "--plot", "a.svg"],
    "experiment": ["experiment", "bn", "--epochs", "3", "--threads", "1", "--dtype", "f64"],
    "help": ["train", "--help"],
}.items():
    put("cli", name, "\0".join(args))
