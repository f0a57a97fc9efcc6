"""The repository keeps one top-level folder per layer (the layout is the architecture); the wheel installs
them all under the one import name `nxport` (nxport.core, nxport.conventions, ...). pyproject.toml holds
the metadata; this file only maps the folders, which static configuration cannot derive."""

from setuptools import find_packages, setup

LAYERS = ("core", "conventions", "exporters", "calibration", "serving")

packages = ["nxport", *find_packages(include=["nxport.*"])]
package_dir = {"nxport": "nxport"}
for layer in LAYERS:
    package_dir[f"nxport.{layer}"] = layer
    packages += [f"nxport.{name}" for name in find_packages(include=[layer, f"{layer}.*"])]

setup(packages=packages, package_dir=package_dir)
