# Site video gateway. Build: docker build -t site-video-gateway .
# Run:   docker run --rm -p 8080:8080 -v /srv/gateway:/data \
#          -e CAM_EAST_GATE_PASSWORD=... site-video-gateway run -c /data/site.yaml
FROM python:3.11-slim-bookworm

# The runtime needs no system packages beyond what the wheels carry (PyAV ships FFmpeg,
# OpenCV is headless). The GStreamer packages are only for the simulated site of `gateway demo`.
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
RUN pip install --no-cache-dir . \
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
