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
        settings=SETTINGS.fetch(),
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
        settings=SETTINGS.split(),
    script:
        "../scripts/subsample.py"
