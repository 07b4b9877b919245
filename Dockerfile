# vqspeech on CPU. Installs the same way as the Makefile: torch first from TORCH_SPEC, then the package.
#   docker build -t vqspeech --build-arg TORCH_PIP_ARGS="--index-url <a CPU wheel index>" .
#   docker run --rm -v "$PWD:/work" -w /work vqspeech encode speech.wav
FROM python:3.11-slim

ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_PIP_ARGS=""

RUN apt-get update \
    && apt-get install -y --no-install-recommends libsndfile1 make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/vqspeech
COPY pyproject.toml README.md ./
COPY vqspeech ./vqspeech
RUN pip install --no-cache-dir $TORCH_PIP_ARGS "$TORCH_SPEC" \
    && pip install --no-cache-dir '.[eval]'

ENV NUMBA_CACHE_DIR=/tmp/numba-cache
ENTRYPOINT ["vqspeech"]
CMD ["--help"]
