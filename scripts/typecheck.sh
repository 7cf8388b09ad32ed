#!/usr/bin/env bash
# Type-check packages with mypy (strict). mypy cannot follow setuptools' editable
# import hooks, so it reads the packages through a tree of links that mirrors the
# installed layout (greentwin.<package>). Usage: scripts/typecheck.sh [PACKAGE...]
set -euo pipefail
cd "$(dirname "$0")/.."
all=(core citygml green_model tiles kernels traffic twin server cli)
pkgs=("$@")
[ ${#pkgs[@]} -eq 0 ] && pkgs=("${all[@]}")
mkdir -p .typecheck/greentwin
# Links are made idempotently (no delete), so several runs may share the tree.
for p in "${all[@]}"; do ln -sfn "../../$p" ".typecheck/greentwin/$p"; done
args=()
for p in "${pkgs[@]}"; do args+=(-p "greentwin.$p"); done
exec .venv/bin/mypy "${args[@]}"
