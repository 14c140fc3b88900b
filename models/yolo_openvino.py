"""The same YOLO pose ONNX file run with OpenVINO's CPU plugin instead of onnxruntime.

OpenVINO reads the exported ONNX directly, so there is no second model file, no conversion step
and nothing fetched at run time; pre- and post-processing are onnxruntime's (`models.yolo_onnx`), so
the two runtimes differ only in the network. On CPUs with bfloat16 instructions (AVX512_BF16, AMX)
the plugin computes in bfloat16 by default: that is where most of its speed comes from, and it moves
scores by a few hundredths and boxes by a pixel or so (tests/unit/test_detector_openvino.py holds it
to that; docs/models.md has the figures). `precision` is reported in the detector's name.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.base import Detection, Image, RuntimeChoice
from models.errors import ModelError
from models.yolo_onnx import detect_with


class YoloOpenVinoDetector:
    """A YOLO pose model exported to ONNX by `python -m models.export`, run with OpenVINO on the CPU."""

    has_keypoints = True
    selection: RuntimeChoice | None = None  # set by models.registry.load_detector

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        input_size: int,
        keypoints: int,
        threads: int,
        confidence: float,
        precision: str | None = None,
    ) -> None:
        """`precision` ("f32", "bf16") overrides the plugin's default inference precision for this CPU."""
        import openvino as ov  # type: ignore[import-untyped]

        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": threads,
            # One stream, latency mode: one frame at a time on `threads` threads, like onnxruntime's
            # sequential session; throughput mode would start a stream per core and take the box.
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            # The gateway shares its cores with decoders and other cameras' work: a thread pinned to
            # a busy core waits instead of moving.
            "ENABLE_CPU_PINNING": False,
        }
        if precision is not None:
            config["INFERENCE_PRECISION_HINT"] = precision
        try:
            core = ov.Core()
            model = core.read_model(str(path))
            inputs = model.inputs
            shape = list(inputs[0].get_partial_shape().to_shape()) if len(inputs) == 1 else None
            if shape != [1, 3, input_size, input_size]:
                raise ModelError(
                    f"model file {path} takes {shape}, not the manifest's [1, 3, {input_size}, {input_size}]"
                )
            compiled = core.compile_model(model, "CPU", config)
            self.precision = str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
            self._request: Any = compiled.create_infer_request()
        except ModelError:
            raise
        except Exception as exc:  # OpenVINO raises its own RuntimeErrors for a bad file or device
            raise ModelError(f"OpenVINO cannot load model file {path}: {exc}") from exc
        # One infer request holds one set of buffers: two threads in `infer` at once would overwrite
        # each other's input (onnxruntime's session.run is reentrant, this is not).
        self._lock = threading.Lock()
        self.name = f"{name} (openvino {self.precision})"
        self.input_size = input_size
        self.keypoints = keypoints
        self.confidence = confidence

    def infer(self, blob: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The raw network output for one preprocessed blob (split out so benchmarks can time it alone)."""
        with self._lock:
            if self._request is None:
                raise RuntimeError(f"{self.name} is closed")
            self._request.infer({0: blob})
            # The output tensor is the request's own buffer, rewritten by the next call: copy it out.
            output: npt.NDArray[np.float32] = np.array(self._request.get_output_tensor(0).data, dtype=np.float32)
        return output

    def detect(self, image: Image) -> list[Detection]:
        return detect_with(self.infer, image, self.input_size, self.confidence, self.keypoints)

    def close(self) -> None:
        with self._lock:
            self._request = None
