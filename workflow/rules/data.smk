# Data stage: fetch MNIST (a local copy, the download, or the bundled sample offline), then
# make the seeded, stratified train/val/test splits every run trains on.


rule download_mnist:
    output:
        raw=paths.MNIST_RAW,
        provenance=paths.MNIST_SOURCE,
    log:
        log_path("download_mnist"),
    benchmark:
        benchmark_path("download_mnist")
    localrule: True
    conda:
        CONDA_ENV
    params:
        source=config["data"]["source"],
        path=config["data"]["path"],
        mirrors=config["data"]["mirrors"],
        timeout=config["data"]["timeout"],
    script:
        "../scripts/download_mnist.py"


rule subsample:
    input:
        raw=paths.MNIST_RAW,
        provenance=paths.MNIST_SOURCE,
    output:
        dataset=paths.DATASET,
        manifest=report(
            paths.MANIFEST,
            caption="../report/manifest.rst",
            category="Data",
        ),
    log:
        log_path("subsample"),
    benchmark:
        benchmark_path("subsample")
    localrule: True
    conda:
        CONDA_ENV
    params:
        seed=config["seed"],
        fraction=config["data"]["fraction"],
        val_fraction=config["data"]["val_fraction"],
        test_fraction=config["data"]["test_fraction"],
    script:
        "../scripts/subsample.py"
