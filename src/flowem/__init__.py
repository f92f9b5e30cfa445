"""flowem: flow-matching priors for electron-microscopy inverse problems."""

__version__ = "0.1.0"
