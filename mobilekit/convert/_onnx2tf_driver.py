"""Child-process driver for ``mobilekit.convert.tflite`` (run as ``python -m``; not a public API).

onnx2tf calls ``sys.exit`` on errors, prints a lot and swallows exceptions; TensorFlow holds
memory for the life of the process. Running both in a child process keeps our process safe and
lets the parent save the whole log. The parent writes a JSON request; this script writes a JSON
result next to it and exits 0, or exits non-zero with the reason in the log.

Request fields:
  jobs: list of {"onnx": path, "work_dir": path, "outputs": {variant: path}}
        one onnx2tf run per job; float32/float16 are onnx2tf's files; int8 variants are made
        from the keras model that run returns.
  calibration_npz: path or null (arrays named like the model's inputs, int32 [N, seq])
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

from mobilekit.variants import DYNAMIC_INT8, FLOAT16, FLOAT32, FULL_INT8


def _run_onnx2tf(onnx_path: str, work_dir: str):
    """Run onnx2tf; returns the tf_keras model it built (its float32/float16 .tflite are on disk)."""
    import onnx2tf

    return onnx2tf.convert(
        input_onnx_file_path=onnx_path,
        output_folder_path=work_dir,
        output_signaturedefs=True,
        replace_to_pseudo_operators=["erf"],  # lower case: "Erf" is silently ignored
        batch_size=1,
        non_verbose=False,
        verbosity="info",
    )


def _quantize(model, variant: str, calibration: dict | None) -> bytes:
    """int8 variants from onnx2tf's keras model (as onnx2tf makes its float32 model, so the
    signature keeps the ONNX input and output names)."""
    import numpy as np
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == DYNAMIC_INT8:
        # int8 weights, float activations: no calibration needed.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()
    if variant != FULL_INT8:
        raise ValueError(variant)
    if not calibration:
        raise RuntimeError("full-int8 needs calibration data")
    inputs = [(t.name, t.dtype.as_numpy_dtype) for t in model.inputs]
    print(f"[mobilekit] model inputs: {inputs}", flush=True)
    unknown = [n for n, _ in inputs if n not in calibration]
    if unknown:
        raise RuntimeError(f"calibration data lacks {unknown}; has {sorted(calibration)}")
    count = len(calibration[inputs[0][0]])

    def representative_dataset():
        # One row at a time (the graph has batch 1), int32 as the model expects, in the model's
        # input order. onnx2tf's own calibration path (custom_input_op_name_np_data_path) casts
        # every input to float32 and normalizes it like an image, which does not fit token ids.
        for i in range(count):
            yield [np.asarray(calibration[n][i:i + 1], dtype=dtype) for n, dtype in inputs]

    converter.representative_dataset = representative_dataset
    # int8 kernels wherever they exist; float builtins as fallback (no Flex ops, apps can't run them).
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    # Inputs are int32 token ids (left alone); the output stays float32 so apps read plain floats.
    converter.inference_output_type = tf.float32
    return converter.convert()


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    calibration = None
    if request.get("calibration_npz"):
        import numpy as np

        with np.load(request["calibration_npz"]) as npz:
            calibration = {k: npz[k] for k in npz.files}
    timings: dict[str, float] = {}
    for job in request["jobs"]:
        start = time.monotonic()
        print(f"[mobilekit] onnx2tf {job['onnx']} -> {job['work_dir']}", flush=True)
        try:
            model = _run_onnx2tf(job["onnx"], job["work_dir"])
        except SystemExit as e:  # onnx2tf reports its errors by exiting
            print(f"[mobilekit] onnx2tf exited with {e.code}", flush=True)
            return 3
        timings[f"onnx2tf:{Path(job['onnx']).name}"] = time.monotonic() - start
        work = Path(job["work_dir"])
        stem = Path(job["onnx"]).stem
        for variant, out in job["outputs"].items():
            start = time.monotonic()
            if variant in (FLOAT32, FLOAT16):  # onnx2tf's own files
                made = work / f"{stem}_{variant}.tflite"
                if not made.is_file():
                    print(f"[mobilekit] onnx2tf did not write {made}", flush=True)
                    return 4
                Path(out).write_bytes(made.read_bytes())
            else:
                if model is None:
                    print("[mobilekit] onnx2tf returned no model", flush=True)
                    return 4
                Path(out).write_bytes(_quantize(model, variant, calibration))
            timings[variant] = time.monotonic() - start
            print(f"[mobilekit] wrote {variant}: {out}", flush=True)
    Path(request["result"]).write_text(json.dumps({"timings": timings}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except Exception:
        traceback.print_exc()
        sys.exit(2)
