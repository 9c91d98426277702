# Firebell: `docker build -t firebell .`, then `docker run --env-file .env -p 3000:3000 firebell`
# (settings are environment variables: .env.example lists them). `docker run firebell demo`
# plays a scripted incident with no settings at all.

# Stage 1: build Firebell's wheel and a wheel of every dependency, at the versions CI tested.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE constraints.txt ./
COPY app.py ./
COPY adapters ./adapters
COPY bot ./bot
COPY examples ./examples
COPY storage ./storage
COPY templates ./templates
COPY workflows ./workflows
RUN pip wheel --no-cache-dir --constraint constraints.txt --wheel-dir /wheels .

# Stage 2: only the installed wheels, run as an unprivileged user.
FROM python:3.11-slim
# jemalloc instead of glibc's allocator: under steady traffic glibc's per-thread arenas let the
# server's RSS creep up for good, jemalloc's level off after a warm-up (README "Performance",
# memory; `python -m bench.memory --allocator jemalloc|glibc`). Any version does.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libjemalloc2 \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s "$(find /usr/lib -name libjemalloc.so.2 -print -quit)" /usr/local/lib/libjemalloc.so.2
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    FIREBELL_CONFIG=/etc/firebell/firebell.yaml \
    DATABASE_URL=sqlite:////var/lib/firebell/firebell.db \
    LD_PRELOAD=/usr/local/lib/libjemalloc.so.2
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels /wheels/firebell-*.whl \
    && groupadd --system --gid 10001 firebell \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/firebell --create-home \
       --shell /usr/sbin/nologin firebell \
    && mkdir -p /etc/firebell
USER 10001:10001
WORKDIR /var/lib/firebell
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["firebell"]
CMD ["serve"]
