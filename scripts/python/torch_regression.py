"""PyTorch reference for `mcdropout-eval regression`: trains the same MC-dropout regression network as
mcdropout's TabularTrainer on one split and prints its MC-dropout predictions for the test rows.

Usage: torch_regression.py TRAIN.csv TEST.csv --target NAME --head mean|mean_logvar --hidden 50[,50]
                           --dropout P0,P1[,...] --activation relu --epochs E --batch-size B --learning-rate LR
                           [--weight-decay WD] --samples N --seed S
Prints {"means": [...], "epistemicVariances": [...], "aleatoricVariances": [...], "torch": VERSION} (target units).
Exits 3 with a message on stderr when torch cannot be imported, so the caller can say the reference was not run.

Mirrors TabularTrainer: features standardised with the training rows' mean and population standard deviation (1 for
a constant column), the target standardised likewise while training and the predictions mapped back; Adam
(betas 0.9/0.999, eps 1e-8) with L2 weight decay on the weights only; reshuffled mini-batches, the last one partial;
MSE for `mean`, Gaussian NLL 0.5 (s + (y - mu)^2 exp(-s)) for `mean_logvar` (s = log sigma^2); a Dropout before each
Linear whose input probability is > 0. The initialisation is PyTorch's own.
"""
import argparse
import csv
import json
import os
import sys

try:
    import torch
    from torch import nn
except ImportError as error:  # the caller reports the reference as not run
    print(f"torch is not importable: {error}", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_mcdropout as tm  # noqa: E402  (the activation table and MC passes)


def read(path, target):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], [r for r in rows[1:] if r]
    column = header.index(target)
    values = torch.tensor([[float(v) for v in row] for row in body], dtype=torch.float64)
    keep = [i for i in range(len(header)) if i != column]
    return values[:, keep], values[:, column]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--target", required=True)
    parser.add_argument("--head", choices=["mean", "mean_logvar"], required=True)
    parser.add_argument("--hidden", required=True)
    parser.add_argument("--dropout", required=True)
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--negative-slope", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--samples", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    x_train, y_train = read(args.train, args.target)
    x_test, _ = read(args.test, args.target)
    mean = x_train.mean(0)
    std = x_train.std(0, unbiased=False)
    std = torch.where(std ** 2 > 1e-12, std, torch.ones_like(std))
    y_mean = y_train.mean()
    y_std = y_train.std(unbiased=False).clamp_min(1e-12)
    x = ((x_train - mean) / std).float()
    y = ((y_train - y_mean) / y_std).float()
    x_test = ((x_test - mean) / std).float()

    hidden = [int(v) for v in args.hidden.split(",")]
    dropout = [float(v) for v in args.dropout.split(",")]
    sizes = [x.shape[1]] + hidden + [2 if args.head == "mean_logvar" else 1]
    if len(dropout) != len(sizes) - 1:
        parser.error(f"--dropout needs {len(sizes) - 1} values")
    modules = []
    for index in range(len(sizes) - 1):
        if dropout[index] > 0:
            modules.append(nn.Dropout(dropout[index]))
        modules.append(nn.Linear(sizes[index], sizes[index + 1]))
        if index < len(sizes) - 2:
            modules.append(tm._activation_module(args.activation, args.negative_slope))
    model = nn.Sequential(*modules)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    optimizer = torch.optim.Adam(
        [{"params": weights, "weight_decay": args.weight_decay}, {"params": biases, "weight_decay": 0.0}],
        lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    model.train()
    for _ in range(args.epochs):
        order = torch.randperm(len(y))
        for lower in range(0, len(y), args.batch_size):
            rows = order[lower:lower + args.batch_size]
            outputs = model(x[rows])
            if args.head == "mean":
                loss = ((outputs[:, 0] - y[rows]) ** 2).mean()
            else:
                s = outputs[:, 1]
                loss = (0.5 * (s + (outputs[:, 0] - y[rows]) ** 2 * torch.exp(-s))).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    head = "mean_logvar" if args.head == "mean_logvar" else "regression"
    passes = tm.mc_passes(model, x_test, args.samples, head).double()  # [N, B, outputs], exp applied to log sigma^2
    means = passes[:, :, 0] * y_std + y_mean
    epistemic = means.var(0, unbiased=False)
    aleatoric = passes[:, :, 1].mean(0) * y_std ** 2 if head == "mean_logvar" else torch.zeros_like(epistemic)
    json.dump({"means": means.mean(0).tolist(), "epistemicVariances": epistemic.tolist(),
               "aleatoricVariances": aleatoric.tolist(), "torch": torch.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
