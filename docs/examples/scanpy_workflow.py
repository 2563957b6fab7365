"""The figure of docs/scanpy.md: lazyact results in an AnnData, drawn by scanpy.

    python docs/examples/scanpy_workflow.py            # writes docs/img/scanpy_workflow.png

Data: ``lazyact.demo.single_cell`` (synthetic counts over the CytoSig genes, five cell types
each responding to two planted signalling proteins, e.g. macrophages to IFNG and TNFA).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scanpy as sc  # noqa: E402

import lazyact  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "img" / "scanpy_workflow.png"


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=1500)
    ap.add_argument("--n-rand", type=int, default=1000)
    ap.add_argument("--basis", choices=("umap", "spatial"), default="umap")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    adata = lazyact.demo.single_cell(args.cells)
    if args.basis == "umap":  # the usual scanpy embedding of the expression
        emb = adata.copy()
        sc.pp.normalize_total(emb)
        sc.pp.log1p(emb)
        sc.pp.pca(emb, n_comps=20)
        sc.pp.neighbors(emb)
        sc.tl.umap(emb)
        adata.obsm["X_umap"] = emb.obsm["X_umap"]

    # activity of every cell, into adata.obsm["cytosig_zscore" | "_pvalue" | "_padj"] and adata.uns["cytosig"]
    lazyact.tl.activity(adata, "CytoSig", n_rand=args.n_rand)
    g = lazyact.tl.get_obsm(adata, "cytosig_zscore")  # cells x proteins, obs/obsm/uns carried over
    table = lazyact.tl.summarise(adata, "cell_type")  # mean z, fraction active per (cell type, protein)

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9), gridspec_kw={"width_ratios": [1.1, 1.2, 1.3]})
    sc.pl.embedding(g, basis=args.basis, color="IFNG", ax=axes[0], show=False, cmap="RdBu_r", vcenter=0,
                    title="IFNG activity (z-score)")
    sc.pl.violin(g, "IFNG", groupby="cell_type", ax=axes[1], show=False, rotation=30, stripplot=False)
    axes[1].set_title("IFNG activity by cell type")
    axes[1].set_ylabel("z-score")

    proteins = [p for ps in lazyact.demo.PROGRAMMES.values() for p in ps]
    sub = table[table["protein"].isin(proteins)]
    x = sub["protein"].map({p: i for i, p in enumerate(proteins)})
    y = sub["group"].cat.codes
    dots = axes[2].scatter(x, y, s=20 + 280 * sub["fraction_active"], c=sub["mean"], cmap="RdBu_r",
                           vmin=-6, vmax=6, edgecolors="0.3", linewidths=0.5)
    axes[2].set_xticks(range(len(proteins)), proteins, rotation=60, ha="right")
    cats = list(sub["group"].cat.categories)
    axes[2].set_yticks(range(len(cats)), cats)
    axes[2].set_xlim(-0.6, len(proteins) - 0.4)
    axes[2].set_ylim(-0.6, len(cats) - 0.4)
    axes[2].set_title("mean z (colour), fraction active (size)")
    fig.colorbar(dots, ax=axes[2], shrink=0.8, label="mean z-score")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=72)
    plt.close(fig)
    print(f"wrote {args.out}; {adata.uns['cytosig']['params']['n_genes']} genes shared with CytoSig")
    print(table.pivot(index="group", columns="protein", values="mean").loc[:, proteins].round(1).to_string())
    return args.out


if __name__ == "__main__":
    main()
