"""Writes scikit-learn's bundled tabular data sets as CSV for mcdropout-train --csv (no download: the data ship inside
the scikit-learn wheel).

Usage: export_tabular_datasets.py [OUT_DIR]     (default data/tabular; install scripts/python/requirements-tabular.txt)
  diabetes.csv       442 rows, 10 features (age, sex, bmi, bp, s1-s6; unscaled), target 'progression' (regression)
  breast-cancer.csv  569 rows, 30 features, target 'benign' (1 benign, 0 malignant; classification)
  wine.csv           178 rows, 13 features, target 'cultivar' (0, 1, 2; classification)
"""
import csv
import os
import sys

from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine


def write(path, names, features, target_name, targets, integer_target):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([name.replace(",", " ") for name in names] + [target_name])
        for row, target in zip(features, targets):
            writer.writerow([repr(float(v)) for v in row] + [int(target) if integer_target else repr(float(target))])
    print(f"{path}: {len(targets)} rows, {len(names)} features, target '{target_name}'", file=sys.stderr)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "data/tabular"
    os.makedirs(out, exist_ok=True)
    diabetes = load_diabetes(scaled=False)
    write(os.path.join(out, "diabetes.csv"), diabetes.feature_names, diabetes.data, "progression", diabetes.target,
          False)
    cancer = load_breast_cancer()
    write(os.path.join(out, "breast-cancer.csv"), list(cancer.feature_names), cancer.data, "benign", cancer.target,
          True)
    wine = load_wine()
    write(os.path.join(out, "wine.csv"), wine.feature_names, wine.data, "cultivar", wine.target, True)


if __name__ == "__main__":
    main()
