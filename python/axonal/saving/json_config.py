"""A model's architecture as JSON, as Keras' ``model.to_json()`` and ``model_from_json``.

The JSON is the Keras 3.15 model config (:mod:`axonal.saving.keras_model`), so Keras'
``keras.models.model_from_json`` reads what :func:`model_to_json` writes, and
:func:`model_from_json` reads the JSON of a Keras program (Keras 2's layer spellings included). It
holds the architecture only: the new model has fresh weights and is not compiled.

Example:
    >>> text = model.to_json()
    >>> clone = axonal.models.model_from_json(text)
"""
from __future__ import annotations

import json

from axonal.saving import keras_model
from axonal.saving.archive import SavedFileError

# The largest JSON accepted, and the float weights the model it describes may allocate.
MAX_JSON_CHARACTERS = 16 * 2**20
MAX_WEIGHT_BYTES = 2**33


def model_to_json(model, **kwargs) -> str:
    """The Keras 3 model config of ``model`` as a JSON string; ``kwargs`` go to ``json.dumps``."""
    return json.dumps(keras_model.model_to_keras(model), allow_nan=False, **kwargs)


def model_from_json(json_string: str, custom_objects: dict | None = None):
    """A new, uncompiled model with fresh weights from :func:`model_to_json`'s output or Keras'.

    Raises:
        SavedFileError: (a ValueError) for text that is not a model config axonal can build,
            naming what in it is wrong.
    """
    where = "the JSON model config"
    if not isinstance(json_string, (str, bytes, bytearray)):
        raise TypeError(f"model_from_json takes a JSON string, received {type(json_string).__name__}.")
    if len(json_string) > MAX_JSON_CHARACTERS:
        raise SavedFileError(where, f"it is {len(json_string)} characters long, more than a model config holds")
    try:
        record = json.loads(json_string)
    except ValueError as error:
        raise SavedFileError(where, f"it is not valid JSON ({error})", "pass the string model.to_json() returned") \
            from None
    model, _ = keras_model.model_from_keras(where, record, custom_objects, MAX_WEIGHT_BYTES)
    return model
