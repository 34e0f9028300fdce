# syntax=docker/dockerfile:1
# PIU image: API + bot, CPU-only torch, embedding model converted at build time.
#   docker build -t piu .
#   docker run -p 8000:8000 -v piu-var:/app/var piu
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIU_ENVIRONMENT=production \
    PIU_DATA_DIR=/app/var \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

# Unprivileged runtime user.
RUN groupadd --system --gid 10001 piu \
    && useradd --system --uid 10001 --gid piu --home-dir /app --shell /usr/sbin/nologin piu

WORKDIR /app

# 1. torch first, CPU build, pinned (the default index would bring CUDA).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# 2. Dependencies only (cached layer): project metadata with empty packages.
COPY pyproject.toml README.md* ./
RUN mkdir -p core index matcher bot api ingest devtools cli \
    && { [ -f README.md ] || touch README.md; } \
    && pip install -e . \
    && python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"

# 3. The project itself. Editable install keeps REPO_ROOT=/app, so data/ (demo
#    data) and var/ resolve as in a checkout.
COPY . .
RUN pip install --no-deps -e . \
    && mkdir -p /app/var \
    && chown -R piu:piu /app/var

USER 10001:10001

# 4. Convert/install the embedding model into the image (offline at run time).
RUN piu model install

EXPOSE 8000
VOLUME ["/app/var"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4).status == 200 else 1)"]

CMD ["piu", "serve", "--host", "0.0.0.0"]
