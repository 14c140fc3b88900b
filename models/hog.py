"""OpenCV's HOG + linear SVM people detector: the fallback that needs no weights and no onnxruntime.

It finds upright, whole, roughly 100+ pixel tall people and little else; it is an order of magnitude
slower and much less accurate than the YOLO backend (docs/benchmarks.md), and it has no keypoints.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from models.base import Detection, Image
from models.yolo_onnx import check_image

NMS_IOU = 0.45
# The default people window (64 x 128) frames the person with a margin; shrinking the box by the
# margins OpenCV's own peopledetect sample uses makes the boxes comparable with a YOLO person box.
MARGIN_X, MARGIN_Y = 0.15, 0.05


def squash(margin: float) -> float:
    """SVM margin (0 at the decision boundary, about 0.5 weak, 2+ strong) to a 0..1 score.

    1 - exp(-margin) keeps the order and makes the site's `confidence` (default 0.4) mean "clearly
    on the person side" (margin >= 0.5), which rejects most of HOG's false hits on railings and trees.
    """
    return 1.0 - math.exp(-max(margin, 0.0))


class HogDetector:
    has_keypoints = False

    def __init__(self, *, input_size: int, confidence: float, threads: int = 1) -> None:
        self.name = "hog (opencv)"
        self.input_size = input_size
        self.confidence = confidence
        self.threads = threads
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32))

    def detect(self, image: Image) -> list[Detection]:
        check_image(image)
        h, w = image.shape[:2]
        scale = self.input_size / w
        small = cv2.resize(image, (self.input_size, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        # OpenCV parallelises detectMultiScale over its global thread pool; keep it to our share.
        previous = cv2.getNumThreads()
        cv2.setNumThreads(self.threads)
        try:
            rects, weights = self._hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        finally:
            cv2.setNumThreads(previous)
        if len(rects) == 0:
            return []
        boxes = np.asarray(rects, dtype=np.float32).reshape(-1, 4)
        scores = np.array([squash(float(m)) for m in np.asarray(weights).reshape(-1)], dtype=np.float32)
        picked = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.confidence, NMS_IOU)
        out = []
        for i in np.asarray(picked, dtype=np.int64).reshape(-1):
            x, y, bw, bh = (float(v) / scale for v in boxes[i])
            x1, y1 = x + MARGIN_X * bw, y + MARGIN_Y * bh
            x2, y2 = x + bw - MARGIN_X * bw, y + bh - MARGIN_Y * bh
            out.append(
                Detection(
                    x1=min(max(x1, 0.0), w),
                    y1=min(max(y1, 0.0), h),
                    x2=min(max(x2, 0.0), w),
                    y2=min(max(y2, 0.0), h),
                    score=float(scores[i]),
                )
            )
        return out

    def close(self) -> None:
        pass
