"""bertrec: a BERT two-tower + ranking recommender as one TFX pipeline."""
from setuptools import find_packages, setup

setup(
    name="bertrec",
    version="0.1.0",
    description="BERT two-tower retrieval + ranking recommender built with TFX, served by TF Serving",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["bertrec", "bertrec.*", "tfx_pipeline", "trainer", "transforms", "serving"]),
    package_data={"tfx_pipeline": ["schema/*.pbtxt"]},
    # Exact pins live in requirements.txt (what `make setup` installs and CI tests);
    # these are the direct dependencies.
    install_requires=[
        "tfx[kfp]==1.16.0",
        "tensorflow-recommenders==0.7.7",
        "tensorflow-text==2.16.1",
        "keras-nlp==0.12.1",
        "dill",
        "safetensors",
        "scipy",
        "prometheus_client",  # bertrec serve's metrics page
        "cryptography",  # checks TLS certificates and keys before gRPC sees them
    ],
    entry_points={"console_scripts": ["bertrec=bertrec.cli:main"]},
)
