"""Keras' serialized objects (layers, activations, initialisers, regularisers) as axonal's, both ways.

Keras writes an object as ``{"module", "class_name", "config", "registered_name"}`` (Keras 3) or
``{"class_name", "config"}`` (Keras 2), and an activation or a built-in initialiser often as a bare
name. Reading maps every class and argument axonal has onto its own (Keras 1/2 spellings such as
``batch_input_shape``, ``input_dim``, ``output_dim``, ``init`` and ``W_regularizer`` included) and
refuses the rest with the class, the argument and where it sits in the config
(``layers[3].class_name "LSTM"``); an argument axonal lacks is accepted only at the value that
makes it a no-op (``dilation_rate`` (1, 1), ``kernel_constraint`` None...). Writing gives the
Keras 3.15 form of each axonal object.
"""
from __future__ import annotations

from typing import Any

from axonal import activations, initializers, regularizers
from axonal.saving.archive import SavedFileError

# Keras' activation names axonal runs, and the name each is in axonal's table.
ACTIVATIONS = {"linear": "linear", "relu": "relu", "leaky_relu": "leaky_relu", "elu": "elu", "sigmoid": "sigmoid",
               "tanh": "tanh", "softmax": "softmax", "softplus": "softplus", "gelu": "gelu", "silu": "silu",
               "swish": "silu", "softsign": "softsign", "mish": "mish"}
INITIALIZERS = ("Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal", "VarianceScaling",
                "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal")
REGULARIZERS = ("L1", "L2", "L1L2")
FLOAT32 = "float32"

# Keras class -> (axonal class, {Keras argument: axonal argument}, {argument: values that are no-ops}).
_NOOPS_WEIGHTED = {"kernel_constraint": (None,), "bias_constraint": (None,), "activity_regularizer": (None,),
                   "quantization_config": (None,), "lora_rank": (None,), "lora_alpha": (None,)}
# The augmentation layers compute channels_last only; the other image layers take data_format as an
# argument (channels_first transposes at their edges).
_LAST = {"data_format": ("channels_last", None)}


def _same(*keys: str) -> dict:
    """Arguments Keras and axonal spell alike."""
    return {key: key for key in keys}


_FORMAT = _same("data_format")
_POOL = _same("pool_size", "strides", "padding", "data_format")
_NORM_NOOPS = {"beta_constraint": (None,), "gamma_constraint": (None,), "dtype": (None,)}
LAYERS: dict[str, tuple[str, dict, dict]] = {
    "Dense": ("Dense", {"units": "units", "activation": "activation", "use_bias": "use_bias",
                        "kernel_initializer": "kernel_initializer", "bias_initializer": "bias_initializer",
                        "kernel_regularizer": "kernel_regularizer", "bias_regularizer": "bias_regularizer",
                        # Keras 1
                        "output_dim": "units", "init": "kernel_initializer", "W_regularizer": "kernel_regularizer",
                        "b_regularizer": "bias_regularizer"},
              {**_NOOPS_WEIGHTED, "W_constraint": (None,), "b_constraint": (None,), "bias": (True,)}),
    "Conv2D": ("Conv2D", {"filters": "filters", "kernel_size": "kernel_size", "strides": "strides",
                          "padding": "padding", "activation": "activation", "use_bias": "use_bias",
                          "kernel_initializer": "kernel_initializer", "bias_initializer": "bias_initializer",
                          "kernel_regularizer": "kernel_regularizer", "bias_regularizer": "bias_regularizer",
                          "data_format": "data_format"},
               {**_NOOPS_WEIGHTED, "dilation_rate": ([1, 1], 1, (1, 1)), "groups": (1,)}),
    "Activation": ("Activation", {"activation": "activation"}, {}),
    "ReLU": ("ReLU", {"max_value": "max_value", "negative_slope": "negative_slope", "threshold": "threshold"}, {}),
    "LeakyReLU": ("LeakyReLU", {"negative_slope": "negative_slope", "alpha": "negative_slope"}, {}),
    "ELU": ("ELU", {"alpha": "alpha"}, {}),
    "Softmax": ("Softmax", {"axis": "axis"}, {}),
    "Dropout": ("Dropout", {"rate": "rate", "seed": "seed", "p": "rate"}, {"noise_shape": (None,)}),
    "Flatten": ("Flatten", _FORMAT, {}),
    "Reshape": ("Reshape", {"target_shape": "target_shape"}, {}),
    "MaxPooling2D": ("MaxPooling2D", _POOL, {}),
    "AveragePooling2D": ("AveragePooling2D", _POOL, {}),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D", _FORMAT, {"keepdims": (False,)}),
    "GlobalMaxPooling2D": ("GlobalMaxPooling2D", _same("data_format", "keepdims"), {}),
    "Conv1D": ("Conv1D", _same("filters", "kernel_size", "strides", "padding", "activation", "use_bias",
                               "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                               "data_format", "dilation_rate", "groups"), _NOOPS_WEIGHTED),
    "MaxPooling1D": ("MaxPooling1D", _POOL, {}),
    "AveragePooling1D": ("AveragePooling1D", _POOL, {}),
    "GlobalAveragePooling1D": ("GlobalAveragePooling1D", _same("data_format", "keepdims"), {}),
    "GlobalMaxPooling1D": ("GlobalMaxPooling1D", _same("data_format", "keepdims"), {}),
    "BatchNormalization": ("BatchNormalization", _same("axis", "momentum", "epsilon", "center", "scale",
                                                       "beta_initializer", "gamma_initializer",
                                                       "moving_mean_initializer", "moving_variance_initializer",
                                                       "beta_regularizer", "gamma_regularizer", "synchronized"),
                           {**_NORM_NOOPS, "renorm": (False,), "renorm_clipping": (None,),
                            "renorm_momentum": (0.99,)}),
    "LayerNormalization": ("LayerNormalization", _same("axis", "epsilon", "center", "scale", "rms_scaling",
                                                       "beta_initializer", "gamma_initializer", "beta_regularizer",
                                                       "gamma_regularizer"), _NORM_NOOPS),
    "Embedding": ("Embedding", _same("input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                                     "mask_zero"),
                  {"embeddings_constraint": (None,), "activity_regularizer": (None,), "lora_rank": (None,),
                   "lora_alpha": (None,), "input_length": (None,), "quantization_config": (None,)}),
    "SpatialDropout2D": ("SpatialDropout2D", _same("rate", "seed", "data_format"), {"noise_shape": (None,)}),
    "ZeroPadding2D": ("ZeroPadding2D", _same("padding", "data_format"), {}),
    "UpSampling2D": ("UpSampling2D", _same("size", "interpolation", "data_format"), {}),
    "Rescaling": ("Rescaling", _same("scale", "offset"), {}),
    "Add": ("Add", {}, {}), "Subtract": ("Subtract", {}, {}), "Multiply": ("Multiply", {}, {}),
    "Average": ("Average", {}, {}), "Maximum": ("Maximum", {}, {}), "Minimum": ("Minimum", {}, {}),
    "Concatenate": ("Concatenate", {"axis": "axis"}, {}),
    "RandomFlip": ("RandomFlip", {"mode": "mode", "seed": "seed"}, _LAST),
    "RandomTranslation": ("RandomTranslation", {"height_factor": "height_factor", "width_factor": "width_factor",
                                                "fill_mode": "fill_mode", "interpolation": "interpolation",
                                                "seed": "seed", "fill_value": "fill_value"}, _LAST),
}
# Other names Keras (1, 2 or 3) gives these classes.
LAYER_ALIASES = {"MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D", "GlobalAvgPool2D": "GlobalAveragePooling2D",
                 "Convolution2D": "Conv2D"}
# Arguments every layer takes, handled by the caller, and arguments with no effect on the maths.
COMMON = ("name", "trainable", "dtype", "batch_input_shape", "batch_shape", "input_shape", "input_dim", "batch_size")


def keras_error(path: str, where: str, problem: str, fix: str | None = None) -> SavedFileError:
    """A refusal naming the file, where in its config (``layers[3].config.units``) and the problem."""
    return SavedFileError(path, f"{where} {problem}", fix or "load the model in Keras and replace what axonal "
                          "lacks, or rebuild it in axonal and load only its weights (model.load_weights)")


def check_float32(path: str, where: str, dtype: Any) -> None:
    """Accept Keras' float32 dtype in any of its spellings; axonal computes in float32 only."""
    name = dtype
    if isinstance(dtype, dict):
        name = (dtype.get("config") or {}).get("name") if isinstance(dtype.get("config"), dict) else None
    if dtype is not None and name != FLOAT32:
        raise keras_error(path, f"{where}.dtype", f"is {name if name is not None else dtype!r:.60}; axonal "
                          "computes in float32 only", "save the Keras model with float32 layers")


def activation_from_keras(path: str, where: str, value: Any) -> str:
    """Keras' activation (a name, or ``{"class_name": "function", "config": name}``) as axonal's name."""
    if value is None:
        return "linear"
    if isinstance(value, dict) and isinstance(value.get("config"), str):
        value = value["config"]
    if isinstance(value, str) and value in ACTIVATIONS:
        return ACTIVATIONS[value]
    raise keras_error(path, where, f"is the activation {value!r:.80}, which axonal lacks "
                      f"(it has {', '.join(sorted(ACTIVATIONS))})")


def activation_to_keras(layer_name: str, name: str) -> str:
    keras_names = {axonal: keras for keras, axonal in ACTIVATIONS.items() if keras != "swish"}
    if name not in keras_names:
        raise ValueError(f"Layer {layer_name!r} uses activation {name!r}, which Keras has no name for "
                         "(Keras' gelu is the exact form). Fix: use one of "
                         f"{sorted(keras_names)} to save in a Keras format, or save as .axonal.")
    return keras_names[name]


def _object(path: str, where: str, value: Any, known: tuple[str, ...], kind: str) -> tuple[str, dict]:
    """``(class_name, config)`` of a serialized Keras object, refused unless the class is ``known``."""
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise keras_error(path, where, f"is {value!r:.80}, not a serialized {kind}")
    name = value["class_name"]
    config = value.get("config") or {}
    if name not in known or not isinstance(config, dict):
        raise keras_error(path, f"{where}.class_name", f"{name!r} is a {kind} axonal lacks (it has "
                          f"{', '.join(known)})")
    return name, config


def initializer_from_keras(path: str, where: str, value: Any) -> dict:
    """An axonal initialiser record from Keras' (a name such as ``"glorot_uniform"``, or a dict)."""
    if isinstance(value, str):
        try:
            return initializers.serialize(initializers.get(value))
        except ValueError:
            raise keras_error(path, where, f"is the initializer {value!r}, which axonal lacks") from None
    name, config = _object(path, where, value, INITIALIZERS, "initializer")
    config = dict(config)
    for axis in ("input_axes", "output_axes"):  # Keras 3.12+: None means the usual fans
        if config.pop(axis, None) is not None:
            raise keras_error(path, f"{where}.config.{axis}", "is set; axonal computes fans from the last two axes")
    if config.get("distribution") == "normal":  # Keras 2's name for the truncated normal
        config["distribution"] = "truncated_normal"
    try:
        return initializers.serialize(initializers.get({"class_name": name, "config": config}))
    except (TypeError, ValueError) as error:
        raise keras_error(path, f"{where}.config", f"cannot configure {name} ({error})") from None


def regularizer_from_keras(path: str, where: str, value: Any) -> dict | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return regularizers.serialize(regularizers.get(value))
        except ValueError:
            raise keras_error(path, where, f"is the regularizer {value!r}, which axonal lacks") from None
    name, config = _object(path, where, value, REGULARIZERS, "regularizer")
    try:
        return regularizers.serialize(regularizers.get({"class_name": name, "config": dict(config)}))
    except (TypeError, ValueError) as error:
        raise keras_error(path, f"{where}.config", f"cannot configure {name} ({error})") from None


def keras_object(module: str, class_name: str, config: dict) -> dict:
    """The Keras 3 record of an object of ``module`` (``"keras.initializers"``...)."""
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def initializer_to_keras(initializer) -> dict:
    return keras_object("keras.initializers", type(initializer).__name__, initializer.get_config())


def regularizer_to_keras(regularizer) -> dict | None:
    if regularizer is None:
        return None
    return keras_object("keras.regularizers", type(regularizer).__name__, regularizer.get_config())


def dtype_policy() -> dict:
    return keras_object("keras", "DTypePolicy", {"name": FLOAT32})


def layer_from_keras(path: str, where: str, record: dict, custom_objects: dict | None) -> tuple[dict, tuple | None]:
    """``(axonal layer record, input shape or None)`` for one Keras layer record.

    The input shape is what Keras 2 puts on a model's first layer (``batch_input_shape``) or
    Keras 1's ``input_dim``; the caller gives it to the model.
    """
    class_name = record.get("class_name")
    config = record.get("config")
    if not isinstance(class_name, str) or not isinstance(config, dict):
        raise keras_error(path, where, f"is {record!r:.100}, not a layer record {{'class_name', 'config'}}")
    if custom_objects and class_name in custom_objects:
        return {"class_name": class_name, "config": dict(config), "custom": True}, None
    name = LAYER_ALIASES.get(class_name, class_name)
    if name not in LAYERS:
        raise keras_error(path, f"{where}.class_name", f"{class_name!r} is a layer axonal lacks (it has "
                          f"{', '.join(sorted(LAYERS))})", "rebuild the model without it, or pass a layer of your "
                          f"own as load_model(path, custom_objects={{{class_name!r}: MyLayer}})")
    axonal_name, arguments, no_ops = LAYERS[name]
    check_float32(path, f"{where}.config", config.get("dtype"))
    out: dict[str, Any] = {"name": config.get("name"), "trainable": bool(config.get("trainable", True))}
    for key, value in config.items():
        at = f"{where}.config.{key}"
        if key in COMMON and key not in arguments:  # Embedding's input_dim is its own argument
            continue
        if key in arguments:
            target = arguments[key]
            if target == "activation":
                value = activation_from_keras(path, at, value)
            elif target.endswith("_initializer"):
                value = initializer_from_keras(path, at, value)
            elif target.endswith("_regularizer"):
                value = regularizer_from_keras(path, at, value)
            elif isinstance(value, list):
                value = tuple(value)
            out[target] = value
        elif key in no_ops:
            if value not in no_ops[key]:
                raise keras_error(path, at, f"is {value!r:.60}; axonal's {axonal_name} supports only "
                                  f"{' or '.join(repr(v) for v in no_ops[key])}")
        elif value is not None:
            raise keras_error(path, at, f"is {value!r:.60}, an argument axonal's {axonal_name} lacks")
    shape_config = {key: value for key, value in config.items() if key not in arguments}
    return {"class_name": axonal_name, "config": out}, input_shape_of(path, where, shape_config)


def input_shape_of(path: str, where: str, config: dict) -> tuple | None:
    """The per-sample input shape a Keras layer config declares (Keras 2/1 spellings), or None."""
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    if shape is not None:
        shape = list(shape)[1:] if isinstance(shape, (list, tuple)) else shape
    elif config.get("input_shape") is not None:
        shape = config["input_shape"]
    elif config.get("input_dim") is not None:
        shape = [config["input_dim"]]
    if shape is None:
        return None
    if (not isinstance(shape, (list, tuple)) or not shape
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape)):
        raise keras_error(path, where, f"declares the input shape {shape!r:.80}, not positive integer sizes "
                          "(axonal needs every size but the batch's known)")
    return tuple(shape)


def layer_to_keras(layer) -> dict:
    """The Keras 3 ``config`` of an axonal layer (without the record around it)."""
    config = layer.get_config()
    config.pop("input_shape", None)  # a Keras model takes its input shape from its InputLayer
    kind = type(layer).__name__
    out = {"name": layer.name, "trainable": bool(layer.trainable), "dtype": dtype_policy()}
    for key, value in config.items():
        if key in ("name", "trainable"):
            continue
        if key == "activation":
            value = activation_to_keras(layer.name, value)
        elif key.endswith("_initializer"):
            value = initializer_to_keras(initializers.get(value))
        elif key.endswith("_regularizer"):
            value = regularizer_to_keras(regularizers.get(value))
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    if kind in ("Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "Flatten",
                "RandomFlip", "RandomTranslation"):
        out.setdefault("data_format", "channels_last")  # the layer's own, when its config holds one
    if kind in ("Dense", "Conv2D"):
        out.update(kernel_constraint=None, bias_constraint=None)
    if kind == "SpatialDropout2D":
        del out["trainable"]  # Keras 3.15's SpatialDropout2D takes no trainable argument
    return out
