"""YOLO pose (person box + 17 COCO keypoints) on onnxruntime's CPU provider.

Pre- and post-processing are a resize, one OpenCV blob call and a few vectorised numpy steps over
the candidates above the score threshold, so they cost about a millisecond beside the network's tens.
onnxruntime is imported only when a session is made: the HOG fallback shares `check_image` and must
work without it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from models.base import Detection, Image, RuntimeChoice
from models.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime as ort  # type: ignore[import-untyped]

PAD_VALUE = 114  # the grey ultralytics letterboxes with during training; other values cost accuracy
NMS_IOU = 0.45
MAX_DETECTIONS = 300

Letterbox = tuple[float, float, float]  # scale, pad x, pad y: model pixels = image pixels * scale + pad


def check_image(image: Image) -> None:
    """ValueError unless `image` is a non-empty H x W x 3 uint8 array (what OpenCV and PyAV give)."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a numpy image, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 BGR image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError("the image is empty")


def letterbox(image: Image, size: int) -> tuple[npt.NDArray[np.float32], Letterbox]:
    """The 1 x 3 x size x size RGB float blob (0..1) of `image`, aspect kept, padded as ultralytics pads."""
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    new_w, new_h = round(w * scale), round(h * scale)
    resized = image if (new_w, new_h) == (w, h) else cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    # ultralytics' rounding, so boxes match its own predictions to the pixel
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    blob = cv2.dnn.blobFromImage(padded, scalefactor=1 / 255.0, swapRB=True)  # BGR->RGB, HWC->NCHW, float32
    return blob.astype(np.float32, copy=False), (scale, float(left), float(top))


def decode(
    output: npt.NDArray[np.float32],
    box: Letterbox,
    image_shape: tuple[int, ...],
    confidence: float,
    keypoints: int,
) -> list[Detection]:
    """Persons from the raw (1, 5 + 3k, N) output, in image pixels, after score threshold and NMS."""
    rows = output[0]
    keep = rows[4] >= confidence
    if not keep.any():
        return []
    cand = rows[:, keep].T  # M x (5 + 3k): only the few candidates are copied
    scores = cand[:, 4]
    xywh = cand[:, :4].copy()
    xywh[:, :2] -= xywh[:, 2:] / 2  # centre -> top-left, as NMSBoxes wants
    picked = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), confidence, NMS_IOU, top_k=MAX_DETECTIONS)
    if len(picked) == 0:
        return []
    idx = np.asarray(picked).reshape(-1)
    scale, pad_x, pad_y = box
    h, w = image_shape[0], image_shape[1]
    bounds = np.array([w, h], dtype=np.float32)
    offset = np.array([pad_x, pad_y], dtype=np.float32)
    xy1 = np.clip((xywh[idx, :2] - offset) / scale, 0, bounds)
    xy2 = np.clip((xywh[idx, :2] + xywh[idx, 2:] - offset) / scale, 0, bounds)
    kpts: npt.NDArray[np.float32] | None = None
    if keypoints:
        kpts = cand[idx, 5 : 5 + 3 * keypoints].reshape(-1, keypoints, 3).copy()
        kpts[:, :, :2] = np.clip((kpts[:, :, :2] - offset) / scale, 0, bounds)
    return [
        Detection(
            x1=float(xy1[i, 0]),
            y1=float(xy1[i, 1]),
            x2=float(xy2[i, 0]),
            y2=float(xy2[i, 1]),
            score=float(scores[j]),
            keypoints=None if kpts is None else kpts[i],
        )
        for i, j in enumerate(idx)
    ]


def detect_with(
    infer: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]],
    image: Image,
    input_size: int,
    confidence: float,
    keypoints: int,
) -> list[Detection]:
    """Persons in `image` by a runtime's `infer`: letterbox, the network, decode (every runtime's detect)."""
    check_image(image)
    blob, box = letterbox(image, input_size)
    return decode(infer(blob), box, image.shape, confidence, keypoints)


class YoloOnnxDetector:
    """A YOLO pose model exported to ONNX by `python -m models.export`, run with onnxruntime on the CPU."""

    has_keypoints = True
    selection: RuntimeChoice | None = None  # set by models.registry.load_detector

    def __init__(
        self, path: Path, *, name: str, input_size: int, keypoints: int, threads: int, confidence: float
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session: ort.InferenceSession | None = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
            raise ModelError(f"onnxruntime cannot load model file {path}: {exc}") from exc
        inputs = self._session.get_inputs()
        shape = inputs[0].shape
        if len(inputs) != 1 or list(shape) != [1, 3, input_size, input_size]:
            raise ModelError(f"model file {path} takes {shape}, not the manifest's [1, 3, {input_size}, {input_size}]")
        self._input = inputs[0].name
        self.name = f"{name} (onnxruntime)"
        self.input_size = input_size
        self.keypoints = keypoints
        self.confidence = confidence

    def infer(self, blob: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The raw network output for one preprocessed blob (split out so benchmarks can time it alone)."""
        if self._session is None:
            raise RuntimeError(f"{self.name} is closed")
        output: npt.NDArray[np.float32] = self._session.run(None, {self._input: blob})[0]
        return output

    def detect(self, image: Image) -> list[Detection]:
        return detect_with(self.infer, image, self.input_size, self.confidence, self.keypoints)

    def close(self) -> None:
        self._session = None
