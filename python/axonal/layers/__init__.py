"""Layers for Sequential and functional models, named and configured as in Keras.

Example:
    >>> from axonal.layers import Dense, Dropout, Input
    >>> Dense(512, activation="relu").get_config()["units"]
    512
"""
from __future__ import annotations

from axonal._validation import lookup
from axonal.layers.activation_layers import ELU, LeakyReLU, ReLU, Softmax
from axonal.layers.augmentation import RandomFlip, RandomTranslation
from axonal.layers.base import Layer
from axonal.layers.convolutional import Conv2D
from axonal.layers.convolutional_1d import Conv1D
from axonal.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from axonal.layers.embedding import Embedding
from axonal.layers.graph import KerasTensor
from axonal.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average,
                                   concatenate, maximum, minimum, multiply, subtract)
from axonal.layers.normalization import BatchNormalization, LayerNormalization
from axonal.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from axonal.layers.pooling_1d import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from axonal.layers.preprocessing import Normalization, Rescaling
from axonal.layers.random_transforms import RandomContrast, RandomRotation, RandomZoom
from axonal.layers.reshaping import UpSampling2D, ZeroPadding2D
from axonal.layers.spatial_dropout import SpatialDropout2D

__all__ = ["Layer", "Input", "InputLayer", "Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout",
           "Flatten", "Reshape",
           "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast", "Rescaling",
           "Normalization", "Conv2D", "MaxPooling2D", "AveragePooling2D",
           "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Conv1D", "MaxPooling1D", "AveragePooling1D",
           "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Embedding", "SpatialDropout2D", "ZeroPadding2D",
           "UpSampling2D", "BatchNormalization", "LayerNormalization", "Add", "Subtract", "Multiply", "Average",
           "Maximum", "Minimum", "Concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum",
           "concatenate", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "Convolution2D", "MaxPool1D",
           "AvgPool1D", "GlobalAvgPool1D", "GlobalMaxPool1D", "Convolution1D",
           "KerasTensor", "serialize", "deserialize", "known_layer_names"]

# Keras' other names for the same classes.
MaxPool2D, AvgPool2D, GlobalAvgPool2D, Convolution2D = MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Conv2D
GlobalMaxPool2D = GlobalMaxPooling2D
MaxPool1D, AvgPool1D, GlobalAvgPool1D, GlobalMaxPool1D = (MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D,
                                                          GlobalMaxPooling1D)
Convolution1D = Conv1D

_CLASSES = {cls.__name__.lower(): cls for cls in (InputLayer, Dense, Activation, ReLU, LeakyReLU, ELU, Softmax,
                                                  Dropout, Flatten, Reshape,
                                                  RandomFlip, RandomTranslation, RandomRotation, RandomZoom,
                                                  RandomContrast, Rescaling, Normalization,
                                                  Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
                                                  GlobalMaxPooling2D, Conv1D, MaxPooling1D, AveragePooling1D,
                                                  GlobalAveragePooling1D, GlobalMaxPooling1D, Embedding,
                                                  SpatialDropout2D, ZeroPadding2D, UpSampling2D,
                                                  BatchNormalization, LayerNormalization,
                                                  Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate)}


def known_layer_names() -> list[str]:
    """The lower-case class names :func:`deserialize` knows."""
    return list(_CLASSES)


def serialize(layer: Layer) -> dict:
    """``{"class_name": "Dense", "config": {...}}``; :func:`deserialize` rebuilds the layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict) -> Layer:
    """A new, unbuilt layer from the output of :func:`serialize`.

    Raises:
        ValueError: for an unknown class name.
    """
    return lookup("layer class", config["class_name"], _CLASSES).from_config(dict(config["config"]))
