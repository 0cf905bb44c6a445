"""Saving and loading models: ``model.save(path)`` writes one self-describing ``.axonal`` file
(a zip of ``config.json`` and ``.npy`` arrays, never pickle) and :func:`load_model` restores the
model, its compile settings and its training state, so training resumes exactly where it stopped.

Example:
    >>> model.save("mlp.axonal")  # doctest: +SKIP
    >>> model = axonal.saving.load_model("mlp.axonal")  # doctest: +SKIP
    >>> model.save_weights("mlp.weights.axonal"); model.load_weights("mlp.weights.axonal")  # doctest: +SKIP
"""
from axonal.saving.archive import SavedFileError
from axonal.saving.json_config import model_from_json
from axonal.saving.saving_api import FORMAT_VERSION, load_model, load_weights, save_model, save_weights

__all__ = ["model_from_json", "FORMAT_VERSION", "SavedFileError", "load_model", "load_weights", "save_model", "save_weights"]
